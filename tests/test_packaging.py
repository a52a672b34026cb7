"""The built wheel holds exactly the source tree's modules, and the version has one source."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.layout import package_dirs

from edgecls import __version__
from edgecls.runtime.contract import build_metadata

ROOT = Path(__file__).resolve().parents[1]
# Where each installed package's source lives: pyproject.toml's one declaration.
SOURCE_FOLDERS = {name.replace(".", "/"): folder for name, folder in package_dirs().items()}


def pyproject_version() -> str:
    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)


def source_modules() -> set[str]:
    modules = set()
    for installed, folder in SOURCE_FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            modules.add("/".join([installed, *path.relative_to(ROOT / folder).parts]))
    return modules


def test_wheel_holds_every_module_of_the_source_tree(tmp_path):
    # Build from a copy: setuptools' build/ folder inside the tree would keep modules deleted since.
    source = tmp_path / "source"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        (source / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for folder in SOURCE_FOLDERS.values():
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("edgecls-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name for name in names if name.endswith(".py")} == source_modules()
    assert "edgecls/commands/predict.py" in names  # the subpackage a hand-written list once missed
    assert "edgecls/runtime/live/page.html" in names  # the live page is a file beside its server
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    assert f"Version: {pyproject_version()}\n" in zipfile.ZipFile(wheel).read(metadata).decode()


def test_version_comes_from_the_package_metadata():
    assert __version__ == pyproject_version()
    metadata = build_metadata(("a", "b"), (32, 32), backbone="test", precision="fp32", val_accuracy=1.0, created="now")
    assert metadata["edgecls_version"] == pyproject_version()


def test_dependency_floors_carry_the_model_loading_fixes():
    # Keras before 3.12 loads model files with known safe_mode bypasses and a path traversal; the
    # floor keeps them out of every install, and the installed Keras meets it.
    from importlib.metadata import version

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    train = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    assert "keras>=3.12" in train and "tensorflow>=2.20" in train
    installed = tuple(int(part) for part in re.findall(r"\d+", version("keras"))[:2])
    assert installed >= (3, 12), version("keras")
