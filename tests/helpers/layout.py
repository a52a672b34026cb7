"""The repository's layout as pyproject.toml declares it, once."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def package_dirs() -> dict[str, str]:
    """Installed package -> the folder its source lives in ([tool.setuptools.package-dir])."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
