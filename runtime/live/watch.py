"""Supervision of a live source: when it is lost, when it is back, and reopening one that hangs."""

from __future__ import annotations

import time
from collections.abc import Callable

from edgecls.core.errors import StreamError
from edgecls.runtime.streams import Frame, FrameSource

from .config import LiveConfig


class Watch:
    """Supervision of a source: says when it is lost and back, and reopens one that hangs."""

    def __init__(
        self, source: FrameSource, config: LiveConfig, notify: Callable[[str], None], on_lost, on_back=None
    ) -> None:
        self.source = source
        self.stall_timeout_s = config.stall_timeout_s
        self.notify = notify
        self.on_lost = on_lost
        self.on_back = on_back or (lambda: None)
        self.last_frame_at = time.perf_counter()
        self.connected = source.connected or not source.live
        if not self.connected:
            notify(f"{source.spec} is not there yet; retrying in the background")

    def idle(self) -> None:
        """No frame this time round.

        Raises:
            StreamError: the source can never be read (a hardware decoder that is not there).
        """
        source = self.source
        if source.failed:
            raise StreamError(f"`source` {source.spec}: {source.failed}")
        if self.connected and source.live and not source.connected:
            last = source.stats.frames_read - 1  # frames are numbered from 0 everywhere, as in --jsonl
            self.notify(f"source lost after frame {last}; reconnecting" if last >= 0 else "source lost; reconnecting")
            self.connected = False
            self.on_lost()
        # Connected yet silent: a read that never returns (a hung camera). A read that times out is the
        # reader's to handle (it reopens the source), so this waits a second longer. A source that is
        # already reconnecting is left to its own backoff.
        stalled = time.perf_counter() - self.last_frame_at > self.stall_timeout_s + 1.0
        if source.live and source.connected and stalled:
            self.notify(f"no frame for {self.stall_timeout_s:.0f}s; reopening the source")
            source.restart()
            self.last_frame_at = time.perf_counter()

    def frame(self, frame: Frame) -> None:
        if not self.connected:
            self.notify(f"source back at frame {frame.index}")
            self.connected = True
            self.on_back()
        self.last_frame_at = time.perf_counter()
