"""The one exception family every part of edgecls raises for a user-facing problem.

The CLI turns any of these into a single line on stderr and an exit code; anything else is a bug
and keeps its traceback.

Messages name the parameter to change in the library's own terms, between backticks: `val_split`,
`out`, `http` (the field of the config or the argument of the function). A Python caller reads them
so; the CLI shows each as the flag that sets it (`--val-split`), through `name_parameters`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)`")


def name_parameters(text: str, name: Callable[[str], str | None]) -> str:
    """`text` with each `parameter` replaced by `name(parameter)`; left as it is where that is None."""

    def replace(match: re.Match[str]) -> str:
        return name(match.group(1)) or match.group()

    return _PARAMETER.sub(replace, text)


class EdgeclsError(Exception):
    """A problem the user can fix: the message says what happened and how to fix it."""

    exit_code = 2


class ModelContractError(EdgeclsError):
    """An ONNX file that does not carry edgecls' model contract (metadata, input, output)."""


class ProviderError(EdgeclsError):
    """The requested execution provider cannot run here."""


class ImageError(EdgeclsError):
    """An image that cannot be decoded or is refused (too large, not an image, unreadable)."""


class DataError(EdgeclsError):
    """A dataset folder that cannot be used as it is (missing, empty classes, ...)."""


class MissingExtraError(EdgeclsError):
    """A command needs packages from an install extra that is not installed."""


class ParityError(EdgeclsError):
    """An exported model disagrees with the Keras model beyond the allowed tolerance. `result`, when
    an export raised it, holds what was written anyway and every precision's report."""

    exit_code = 1

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class ClusterError(EdgeclsError):
    """A Ray cluster that cannot be reached or cannot run the work."""


class StreamError(EdgeclsError):
    """A video source that cannot be opened or read."""


def require_extra(module: str, extra: str = "train") -> None:
    """Raise `MissingExtraError` naming the pip command if `module` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"This command needs `{module}`, which is not installed. Install the `{extra}` extra: "
            f"pip install 'edgecls[{extra}]' (from a clone: pip install '.[{extra}]')"
        )
