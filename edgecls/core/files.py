"""Atomic file writes: a temp file beside the target, then a rename, so no reader sees half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import EdgeclsError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target`, on error it is removed
    and `target` is left as it was. The file gets the user's umask; an OSError (a full disk) becomes
    an EdgeclsError naming the file.

    The temporary name keeps the target's suffix, so writers that choose a format by suffix
    (Keras, OpenCV, onnx) still work.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix or ".tmp", dir=target.parent)
    except OSError as error:
        raise EdgeclsError(f"{target}: cannot write there ({error.strerror or error}).") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp creates 0600; the file gets the mode any new file would (0666 less the umask).
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, target)
    except OSError as error:  # a full disk, a quota, a read-only folder: one line, the old file kept
        kept = "; the previous file is kept" if target.exists() else ""
        raise EdgeclsError(f"{target}: cannot write ({error.strerror or error}){kept}.") from None
    finally:
        temporary.unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask. POSIX can only read it by setting it, so it is set straight back; edgecls
    never changes it, so the brief window is harmless."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(target)


def hold_paths(config: object, *names: str) -> None:
    """In a frozen config's `__post_init__`: turn the named fields given as strings into `Path`s, so
    a caller may pass either and the library always holds a `Path` (None stays None)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not isinstance(value, Path):
            object.__setattr__(config, name, Path(value))
