"""edgecls: transfer-learning image classifiers exported to one self-describing ONNX file."""

import logging
from importlib.metadata import PackageNotFoundError, version

try:
    # The one place the version lives is the package metadata (pyproject.toml's [project] version).
    __version__ = version("edgecls")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

# A library logs, the application decides where it goes: without this, Python's last-resort handler
# would print the library's warnings for a caller that configured no logging. The CLI adds its own.
logging.getLogger("edgecls").addHandler(logging.NullHandler())
