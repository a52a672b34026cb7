"""`--jsonl`: one JSON object per light and classified frame, to a file or stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from edgecls.core.errors import StreamError
from edgecls.runtime.live.config import LiveConfig

from .base import CameraResult, Sink


class JsonLines:
    """One JSON Lines output: a file, line-buffered so a consumer tailing it sees every line as it is
    written, or "-" for stdout (flushed per line). A failure is reported once, naming `parameter`."""

    def __init__(self, parameter: str, target: Path) -> None:
        self.parameter, self.target = parameter, target
        self.failed = False
        self.stream: TextIO = sys.stdout
        if str(target) != "-":
            try:
                self.stream = open(target, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
            except OSError as error:
                raise StreamError(f"`{parameter}` {target}: cannot write there ({error.strerror}).") from None

    def write(self, item: dict) -> None:
        try:
            self.stream.write(json.dumps(item) + "\n")
            if self.stream is sys.stdout:
                self.stream.flush()
        except OSError as error:
            self.failed = True  # reported here, once; close() must not report it again
            raise StreamError(f"`{self.parameter}` {self.target}: write failed ({error.strerror or error})") from None

    def close(self) -> list[str]:
        try:
            if self.stream is sys.stdout:
                sys.stdout.flush()
            else:
                self.stream.close()
        except OSError as error:
            if not self.failed:
                return [f"`{self.parameter}` {self.target}: write failed ({error.strerror or error})"]
        return []


class FramesSink(Sink):
    """Each light's record of each frame; with several lights in the run, naming its camera and light."""

    def __init__(self, target: Path) -> None:
        self.lines = JsonLines("jsonl", target)

    def on_frame(self, result: CameraResult) -> None:
        for light in result.lights:
            self.lines.write(light.record if result.single else {"camera": result.camera, "light": light.light, **light.record})

    def close(self) -> list[str]:
        return self.lines.close()


def make(config: LiveConfig, notify: Callable[[str], None]) -> Sink | None:
    return FramesSink(config.jsonl) if config.jsonl is not None else None
