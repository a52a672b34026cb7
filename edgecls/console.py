"""Printing for humans: one-line notices and a progress bar on stderr.

Results go to stdout; everything meant for a person watching goes to stderr, so
`edgecls predict ... --format json > out.jsonl` stays clean.
"""

from __future__ import annotations

import logging
import sys
import time

from edgecls.core import progress
from edgecls.core.errors import name_parameters
from edgecls.core.text import printable

_flags: dict[str, str] = {}  # the running command's options: parameter name -> flag


def use_flags(flags: dict[str, str]) -> None:
    """The running command's options (parameter name -> flag): the library's `name` becomes its flag."""
    global _flags
    _flags = flags


def shell_text(text: str) -> str:
    """Library text as the shell shows it: each `parameter` the command has an option for is named by
    its flag (`val_split` -> --val-split); any other stays as the library wrote it."""
    return name_parameters(text, _flags.get)


def info(message: str) -> None:
    """A notice from the shell (the CLI) to the person watching."""
    print(printable(message, keep_newlines=True), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"warning: {printable(message, keep_newlines=True)}", file=sys.stderr, flush=True)


class _ShellHandler(logging.Handler):
    """The library's log records as the CLI shows them: one line each on the current stderr,
    `warning: ` before warnings, control characters escaped."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = shell_text(record.getMessage())
            if record.levelno >= logging.WARNING:
                warn(message)
            else:
                info(message)
        except Exception:  # noqa: BLE001 - logging must never end the program
            self.handleError(record)


def configure_shell_output(level: int = logging.INFO) -> None:
    """Called by the CLI once it starts: the library's `edgecls.*` log records and progress bars go to
    stderr. A Python caller that never calls it sees nothing unless it configures logging itself."""
    progress.set_reporter(Progress)
    logger = logging.getLogger("edgecls")
    if not any(isinstance(handler, _ShellHandler) for handler in logger.handlers):
        logger.addHandler(_ShellHandler())
    logger.setLevel(level)


class Progress:
    """A small progress bar on stderr: the CLI's progress reporter (see `edgecls.core.progress`).

    On a terminal it redraws one line at most ten times a second; elsewhere (logs, CI) it prints
    a line every `log_every_s` seconds and at the end, so long work is visible without flooding.
    Runs shorter than `min_seconds` print nothing.
    """

    def __init__(self, total: int | None, label: str, *, enabled: bool = True, log_every_s: float = 10.0) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self.count = 0
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False
        self._drawn_count = -1
        self._is_tty = sys.stderr.isatty()
        self._log_every_s = log_every_s
        self._min_seconds = 1.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def update(self, n: int = 1, **fields: object) -> None:
        self.count += n
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self._start
        interval = 0.1 if self._is_tty else self._log_every_s
        if elapsed >= self._min_seconds and now - self._last_draw >= interval:
            self._draw(elapsed, fields)
            self._last_draw = now

    def close(self, **fields: object) -> None:
        if self.enabled and self._drawn and (self._drawn_count != self.count or fields):
            self._draw(time.perf_counter() - self._start, fields)
            if self._is_tty:
                sys.stderr.write("\n")
                sys.stderr.flush()

    def _draw(self, elapsed: float, fields: dict[str, object]) -> None:
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            done = self.count / self.total
            bar = "#" * int(done * 24)
            head = f"{self.label} [{bar:<24}] {self.count}/{self.total}"
            eta = (self.total - self.count) / rate if rate > 0 else 0.0
            tail = f"{rate:.1f}/s, {elapsed:.0f}s elapsed, {eta:.0f}s left"
        else:
            head = f"{self.label} {self.count}"
            tail = f"{rate:.1f}/s, {elapsed:.0f}s elapsed"
        extra = "".join(f", {key} {value}" for key, value in fields.items())
        line = f"{head} ({tail}{extra})"
        if self._is_tty:
            sys.stderr.write("\r" + line[:160].ljust(80))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self._drawn = True
        self._drawn_count = self.count


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras without their native start-up lines on the terminal.

    TensorFlow's C++ side writes absl notices (oneDNN, CUDA probing) straight to file descriptor 2
    before TF_CPP_MIN_LOG_LEVEL is read, so the descriptor is pointed at a temporary file for the
    import. If the import fails, what was captured is shown with the error.
    """
    import os
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    import tensorflow as tf

    # Retracing notices are advice for TensorFlow developers, not for someone training a classifier.
    tf.get_logger().setLevel("ERROR")
