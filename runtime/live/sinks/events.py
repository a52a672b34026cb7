"""`--events`: every change of a light's reported state as one JSON line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgecls.runtime.live.config import LiveConfig

from .base import Sink
from .jsonl import JsonLines


class EventsSink(Sink):
    def __init__(self, target: Path) -> None:
        self.lines = JsonLines("events", target)

    def on_change(self, event: dict) -> None:
        self.lines.write(event)

    def close(self) -> list[str]:
        return self.lines.close()


def make(config: LiveConfig, notify: Callable[[str], None]) -> Sink | None:
    return EventsSink(config.events) if config.events is not None else None
