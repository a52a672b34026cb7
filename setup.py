"""Package discovery for the folders that `edgecls` maps into one namespace.

Where each part lives is declared once, in pyproject.toml's [tool.setuptools.package-dir] (the
top-level folders `trainer/`, `exporter/` and `runtime/` are installed as `edgecls.trainer`,
`edgecls.exporter` and `edgecls.runtime`). Every folder under them that holds an `__init__.py`
becomes a package here, so a new subpackage is in the wheel without editing a list.
"""

import sys
from pathlib import Path

from setuptools import setup

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the copy setuptools carries
    from setuptools._vendor import tomli as tomllib

HERE = Path(__file__).parent
ROOTS: dict[str, str] = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        for init in sorted((HERE / folder).rglob("__init__.py")):
            found.append(".".join([name, *init.parent.relative_to(HERE / folder).parts]))
    return found


setup(packages=packages())
