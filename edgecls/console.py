"""Printing for humans: one-line notices and progress bars (rich, on a terminal) on stderr.

Results go to stdout; everything meant for a person watching goes to stderr, so
`edgecls predict ... --format json > out.jsonl` stays clean.
"""

from __future__ import annotations

import logging
import sys
import time

from edgecls.core.errors import name_parameters
from edgecls.core.text import printable

from .core import progress

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
    """A notice from the shell (the CLI) to the person watching; a library's `name` shows as its flag."""
    print(printable(shell_text(message), keep_newlines=True), file=sys.stderr, flush=True)


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
    """The CLI's progress reporter (see `edgecls.core.progress`), on stderr.

    On a terminal, a rich progress bar; elsewhere (logs, CI) a line every `log_every_s` seconds and
    at the end, so long work is visible without flooding. Runs shorter than a second show nothing.
    """

    def __init__(self, total: int | None, label: str, *, log_every_s: float = 10.0) -> None:
        self.total = total
        self.label = label
        self.count = 0
        self._start = time.perf_counter()
        self._last_line = 0.0
        self._lines = 0
        self._line_count = -1
        self._log_every_s = log_every_s
        self._min_seconds = 1.0
        self._bar: _Bar | None = None
        self._is_tty = sys.stderr.isatty()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def update(self, n: int = 1, **fields: object) -> None:
        self.count += n
        now = time.perf_counter()
        if now - self._start < self._min_seconds:
            return
        if self._is_tty:
            self._bar = self._bar or _Bar(self.total, self.label, self._start)
            self._bar.show(self.count, fields)
        elif now - self._last_line >= self._log_every_s:
            self._line(now - self._start, fields)
            self._last_line = now

    def close(self, **fields: object) -> None:
        if self._bar is not None:
            self._bar.show(self.count, fields)
            self._bar.stop()
        elif self._lines and (self._line_count != self.count or fields):
            self._line(time.perf_counter() - self._start, fields)

    def _line(self, elapsed: float, fields: dict[str, object]) -> None:
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            done = self.count / self.total
            head = f"{self.label} [{'#' * int(done * 24):<24}] {self.count}/{self.total}"
            eta = (self.total - self.count) / rate if rate > 0 else 0.0
            tail = f"{rate:.1f}/s, {elapsed:.0f}s elapsed, {eta:.0f}s left"
        else:
            head = f"{self.label} {self.count}"
            tail = f"{rate:.1f}/s, {elapsed:.0f}s elapsed"
        extra = "".join(f", {key} {value}" for key, value in fields.items())
        sys.stderr.write(f"{head} ({tail}{extra})\n")
        sys.stderr.flush()
        self._lines += 1
        self._line_count = self.count


class _Bar:
    """A rich progress bar on the terminal's stderr: label, bar, count, rate, elapsed, left, fields."""

    def __init__(self, total: int | None, label: str, started: float) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[extra]}"),
            console=Console(stderr=True),
        )
        self._started = started
        self._task = self._progress.add_task(printable(label), total=total, rate="", extra="")
        self._progress.start()

    def show(self, count: int, fields: dict[str, object]) -> None:
        elapsed = time.perf_counter() - self._started
        rate = f"{count / elapsed:.1f}/s" if elapsed > 0 else ""
        self._progress.update(self._task, completed=count, rate=rate)
        if fields:
            extra = printable(", ".join(f"{key} {value}" for key, value in fields.items()))
            self._progress.update(self._task, extra=extra)

    def stop(self) -> None:
        self._progress.stop()


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
