"""`--record`: the annotated video of a run with one camera and one light, written beside its name
and moved into place at the end, once it reads back whole."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edgecls.core.errors import StreamError
from edgecls.runtime.live.config import LiveConfig

from .base import CameraResult, PictureSink, Sink

RECORD_SUFFIXES = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v"}


def check_record_target(target: Path) -> None:
    """Before the first frame: a suffix OpenCV can write, and a folder that exists and takes files.

    Raises:
        StreamError: naming the path and the fix.
    """
    if target.suffix.lower() not in RECORD_SUFFIXES:
        raise StreamError(f"`record` {target}: use a .avi (MJPEG) or .mp4 file name.")
    if not target.parent.is_dir():
        raise StreamError(f"`record` {target}: the folder {target.parent} does not exist. Create it first.")
    probe = target.with_name(f".{target.stem}.probe")
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise StreamError(f"`record` {target}: cannot write in {target.parent} ({error.strerror}).") from None


def verify_recording(path: Path, frames_written: int) -> str | None:
    """None when the file reads back with every frame written; else what is wrong with it. OpenCV's
    writer reports no errors, so a full disk shows only here."""
    if frames_written == 0:
        return None
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            return f"the file cannot be read back (0 of {frames_written} frames; a full disk?)"
        promised = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if 0 < promised < frames_written:
            return f"{promised} of {frames_written} frames in the file (a full disk?)"
        # The header may promise every frame while the data stops short: the last one must read back.
        capture.set(cv2.CAP_PROP_POS_FRAMES, frames_written - 1)
        if not capture.grab():
            return f"the last of {frames_written} frames cannot be read back (a full disk?)"
    finally:
        capture.release()
    return None


class RecordSink(PictureSink):
    def __init__(self, target: Path) -> None:
        check_record_target(target)
        self.target = target
        self.temporary = target.with_name(f".{target.stem}.partial{target.suffix}")
        self.writer: cv2.VideoWriter | None = None
        self.size = (0, 0)
        self.frames = 0

    def on_frame(self, result: CameraResult) -> None:
        light = result.lights[0]
        self._write(result.picture(), light.fps)

    def _write(self, frame: np.ndarray, fps_hint: float) -> None:
        if self.writer is None:
            height, width = frame.shape[:2]
            fourcc = cv2.VideoWriter.fourcc(*RECORD_SUFFIXES[self.target.suffix.lower()])
            self.writer = cv2.VideoWriter(str(self.temporary), fourcc, max(1.0, fps_hint or 25.0), (width, height))
            if not self.writer.isOpened():
                raise StreamError(f"`record` {self.target}: OpenCV cannot write this file type; use .avi or .mp4.")
            self.size = (width, height)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)  # the source changed size mid-stream
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> list[str]:
        if self.writer is None:
            return []
        self.writer.release()
        problem = verify_recording(self.temporary, self.frames)
        if problem is None:
            os.replace(self.temporary, self.target)
            return []
        if self.temporary.exists() and self.temporary.stat().st_size > 0:
            os.replace(self.temporary, self.target)
            return [f"`record` {self.target}: incomplete, {problem}"]
        self.temporary.unlink(missing_ok=True)
        return [f"`record` {self.target}: not written, {problem}"]


def make(config: LiveConfig, notify: Callable[[str], None]) -> Sink | None:
    return RecordSink(config.record) if config.record is not None else None
