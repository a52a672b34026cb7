"""Progress of long library work, shown by whoever called the library.

Long work (decoding a dataset, extracting features, rendering, calibrating INT8) opens a task with
`track(total, label)` and updates it. The task comes from the reporter the caller handed in with
`set_reporter` (the CLI hands in a bar on stderr); with none, updates go nowhere, so a Python caller
sees nothing unless it asks. A reporter is any callable `(total, label) -> Task`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Task(Protocol):
    """One piece of long work: `update` after each step, `close` once at the end."""

    def update(self, n: int = 1, **fields: object) -> None: ...

    def close(self, **fields: object) -> None: ...


Reporter = Callable[[int | None, str], Task]


class _Silent:
    def update(self, n: int = 1, **fields: object) -> None:
        pass

    def close(self, **fields: object) -> None:
        pass


_reporter: Reporter | None = None


def set_reporter(reporter: Reporter | None) -> Reporter | None:
    """Send every task opened from now on to `reporter` (None: nowhere); returns the previous one."""
    global _reporter
    previous, _reporter = _reporter, reporter
    return previous


class track:  # noqa: N801 - used like a function: `with track(n, "label") as task:`
    """A task of `total` steps (None when unknown) named `label`, from the current reporter."""

    def __init__(self, total: int | None, label: str) -> None:
        self.task: Task = _reporter(total, label) if _reporter is not None else _Silent()

    def __enter__(self) -> Task:
        return self.task

    def __exit__(self, *exc_info: object) -> None:
        self.task.close()

    def update(self, n: int = 1, **fields: object) -> None:
        self.task.update(n, **fields)

    def close(self, **fields: object) -> None:
        self.task.close(**fields)
