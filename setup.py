"""Package discovery for the folders that `edgecls` maps into one namespace.

The top-level folders `trainer/`, `exporter/` and `runtime/` are installed as `edgecls.trainer`,
`edgecls.exporter` and `edgecls.runtime`. Every folder under them that holds an `__init__.py`
becomes a package here, so a new subpackage is in the wheel without editing a list. Everything
else about the distribution lives in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup

ROOTS = {
    "edgecls": "edgecls",
    "edgecls.trainer": "trainer",
    "edgecls.exporter": "exporter",
    "edgecls.runtime": "runtime",
}


def packages() -> list[str]:
    here = Path(__file__).parent
    found = []
    for name, folder in ROOTS.items():
        for init in sorted((here / folder).rglob("__init__.py")):
            found.append(".".join([name, *init.parent.relative_to(here / folder).parts]))
    return found


setup(packages=packages(), package_dir=ROOTS)
