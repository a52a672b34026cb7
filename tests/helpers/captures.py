"""The one fake capture: what FrameSource sees of `cv2.VideoCapture` (isOpened, read, get, set,
release), its reads following a script, so a test says what the camera does frame by frame.

A script is called with the capture and the read's number (from 1) and returns (ok, image); it may
sleep (a camera's frame rate, a read that waits out its timeout) or block until the test sets
`capture.unhang` (a hung camera). Reading after release, or releasing during a read, fails the test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

Script = Callable[["FakeCapture", int], tuple[bool, np.ndarray | None]]


class FakeCapture:
    def __init__(self, script: Script, opens: bool = True, hang_open: bool = False, fps: float = 25.0) -> None:
        self.script, self.opens, self.hang_open, self.fps = script, opens, hang_open, fps
        self.count = 0
        self.opened_at = time.perf_counter()
        self.released = threading.Event()
        self.unhang = threading.Event()  # set by the test: a stuck call returns
        self.reading = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        if self.hang_open:
            self.unhang.wait(30)
        return self.opens

    def get(self, prop: int) -> float:
        return self.fps

    def set(self, prop: int, value: float) -> bool:
        return False

    def read(self) -> tuple[bool, np.ndarray | None]:
        assert not self.released.is_set(), "read after release"
        self.count += 1
        self.reading = True
        try:
            return self.script(self, self.count)
        finally:
            self.reading = False

    def release(self) -> None:
        assert not self.reading, "released while a read is in progress"
        self.released.set()


def pictures(values: Sequence[int], delay_s: float = 0.01, then: str = "fail", block_s: float = 0.0) -> Script:
    """8x8 pictures of one value each, `delay_s` apart; after them `then`: "fail" (reads fail, after
    `block_s`: a read that waited out its timeout) or "freeze" (a read blocks `block_s`, as FFmpeg's
    read timeout does, and returns an old picture: value 99)."""

    def script(capture: FakeCapture, number: int) -> tuple[bool, np.ndarray | None]:
        if number <= len(values):
            time.sleep(delay_s)
            return True, np.full((8, 8, 3), values[number - 1], np.uint8)
        time.sleep(block_s)
        return (True, np.full((8, 8, 3), 99, np.uint8)) if then == "freeze" else (False, None)

    return script


def green(sizes: Sequence[tuple[int, int]] = ((240, 320),), hang_after: int | None = None) -> Script:
    """Green frames, 5 ms apart, their sizes (height, width) in turn; from read `hang_after` on, a
    read blocks until `unhang` and then fails."""

    def script(capture: FakeCapture, number: int) -> tuple[bool, np.ndarray | None]:
        if hang_after is not None and number > hang_after:
            capture.unhang.wait(30)
            return False, None
        height, width = sizes[(number - 1) % len(sizes)]
        time.sleep(0.005)
        frame = np.zeros((height, width, 3), np.uint8)
        frame[:] = (0, 255, 0)
        return True, frame

    return script


def noisy_green(stuck: tuple[int, int] = (0, 0), seed: int = 0) -> Script:
    """Green frames at 25 fps with sensor noise, except reads stuck[0] to stuck[1] (exclusive), where
    the very same picture repeats: a stuck encoder."""
    rng = np.random.default_rng(seed)

    def picture() -> np.ndarray:
        image = np.zeros((48, 64, 3), np.uint8)
        image[..., 1] = 200 + rng.integers(0, 20, (48, 64))  # green, BGR
        return image

    still = picture()

    def script(capture: FakeCapture, number: int) -> tuple[bool, np.ndarray | None]:
        time.sleep(0.04)
        return True, still if stuck[0] <= number < stuck[1] else picture()

    return script


class Connections:
    """A capture factory for FrameSource: each opening gets a FakeCapture following the next script
    (the last one repeats); `opened` lists them in order."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts = scripts
        self.opened: list[FakeCapture] = []

    def __call__(self, *args: object) -> FakeCapture:
        self.opened.append(FakeCapture(self.scripts[min(len(self.opened), len(self.scripts) - 1)]))
        return self.opened[-1]
