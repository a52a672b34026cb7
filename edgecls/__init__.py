"""edgecls: transfer-learning image classifiers exported to one self-describing ONNX file."""

import logging
import pkgutil
from importlib.metadata import PackageNotFoundError, version

# The package is assembled from four folders (edgecls/, trainer/, exporter/, runtime/). Installed,
# they sit in one directory; in the development install (setuptools' strict editable mode) that
# directory is a tree of links under build/. Run from the repository's root, Python finds the bare
# `edgecls/` folder first: extending the search path lets `edgecls.runtime` still resolve there.
__path__ = pkgutil.extend_path(__path__, __name__)

try:
    # The one place the version lives is the package metadata (pyproject.toml's [project] version).
    __version__ = version("edgecls")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

# A library logs, the application decides where it goes: without this, Python's last-resort handler
# would print the library's warnings for a caller that configured no logging. The CLI adds its own.
logging.getLogger("edgecls").addHandler(logging.NullHandler())
