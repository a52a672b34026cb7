"""edgecls: transfer-learning image classifiers exported to one self-describing ONNX file."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The one place the version lives is the package metadata (pyproject.toml's [project] version).
    __version__ = version("edgecls")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
