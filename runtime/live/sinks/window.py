"""`--show`: the annotated frames in a window (q or Esc ends the run)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

import cv2

from edgecls.core.errors import StreamError
from edgecls.runtime.live.config import LiveConfig

from .base import CameraResult, PictureSink, Sink, StopRun


class WindowSink(PictureSink):
    def __init__(self) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # Without a display OpenCV's window toolkit aborts the whole process; say so instead.
            raise StreamError(
                "`show` needs a display, and none is set (DISPLAY / WAYLAND_DISPLAY). Watch from a browser with "
                "`http` 127.0.0.1:8080, or write the annotated video with `record` OUT.avi."
            )

    def on_frame(self, result: CameraResult) -> None:
        cv2.imshow("edgecls", result.picture())
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            raise StopRun("window closed")

    def close(self) -> list[str]:
        with contextlib.suppress(cv2.error):
            cv2.destroyAllWindows()
        return []


def make(config: LiveConfig, notify: Callable[[str], None]) -> Sink | None:
    return WindowSink() if config.show else None
