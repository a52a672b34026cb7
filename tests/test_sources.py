"""Live sources that behave like a service's: frozen cameras, reconnect backoff, a camera that is
down at start, and rates over the time a source was connected. Fake captures, seconds each."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgecls.core.errors import StreamError
from edgecls.runtime.sources import SourceSpec
from edgecls.runtime.streams import FIRST_BACKOFF_S, FrameSource

CAMERA = SourceSpec("camera", 0)


class ScriptedCapture:
    """`good` fresh frames (pixel value 1), then `then`: "fail" (reads fail) or "freeze" (a read blocks
    `block_s`, as FFmpeg's read timeout does, and returns an old frame: pixel value 99)."""

    def __init__(self, good: int, then: str = "fail", block_s: float = 0.0, opens: bool = True) -> None:
        self.good, self.then, self.block_s, self.opens = good, then, block_s, opens
        self.count = 0
        self.opened_at = time.perf_counter()

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self.opens

    def get(self, prop):
        return 25.0

    def read(self):
        self.count += 1
        if self.count <= self.good:
            time.sleep(0.01)
            return True, np.full((8, 8, 3), 1, np.uint8)
        if self.then == "freeze":
            time.sleep(self.block_s)
            return True, np.full((8, 8, 3), 99, np.uint8)
        return False, None

    def release(self):
        pass


def drain(source: FrameSource, seconds: float) -> list[int]:
    """Pixel values of every frame handed out within `seconds`."""
    values, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        frame = source.get(timeout_s=0.05)
        if frame is not None:
            values.append(int(frame.image[0, 0, 0]))
    return values


def test_a_frozen_camera_is_lost_within_the_read_timeout_and_its_old_frame_never_handed_out():
    captures = []

    def factory(*args):
        captures.append(ScriptedCapture(good=5, then="freeze", block_s=0.6) if not captures else ScriptedCapture(500))
        return captures[-1]

    source = FrameSource(CAMERA, read_timeout_s=0.6, capture_factory=factory).start()
    try:
        values = drain(source, 2.0)
    finally:
        source.stop()
    assert 99 not in values and values.count(1) > 5  # fresh frames before and after, never the old one
    assert source.stats.frozen == 1 and source.stats.reconnects == 1 and len(captures) == 2
    # declared lost when the read timed out, then reopened after the first backoff step
    assert captures[1].opened_at - captures[0].opened_at < 0.05 * 5 + 0.6 + FIRST_BACKOFF_S + 0.3


def test_a_frozen_camera_s_last_picture_replayed_on_reconnect_is_not_new():
    """An MJPEG server hands a new connection its current frame: after a freeze that is the old
    picture, and it is not handed out as fresh. The next, different pictures are."""

    class Pictures(ScriptedCapture):
        def __init__(self, values: list[int], then_block_s: float) -> None:
            super().__init__(good=len(values))
            self.values, self.then_block_s = values, then_block_s

        def read(self):
            self.count += 1
            if self.count > len(self.values):
                time.sleep(self.then_block_s)  # frozen: the read waits out the timeout
                return False, None
            time.sleep(0.05)
            return True, np.full((8, 8, 3), self.values[self.count - 1], np.uint8)

    captures = []

    def factory(*args):
        first = not captures
        captures.append(Pictures([10, 11, 12, 13, 14], 0.6) if first else Pictures([14, 20, 21, 22, 23, 24], 5.0))
        return captures[-1]

    source = FrameSource(CAMERA, read_timeout_s=0.6, capture_factory=factory).start()
    try:
        values = drain(source, 2.5)
    finally:
        source.stop()
    assert source.stats.frozen == 1 and len(captures) == 2
    assert values.count(14) == 1 and values[-5:] == [20, 21, 22, 23, 24], values


def test_the_backoff_starts_short_again_after_a_good_connection():
    captures = []

    def factory(*args):
        captures.append(ScriptedCapture(good=3))  # every connection delivers frames, then drops
        return captures[-1]

    source = FrameSource(CAMERA, read_timeout_s=1.0, capture_factory=factory, max_backoff_s=8).start()
    try:
        drain(source, 3.0)
    finally:
        source.stop()
    gaps = [later.opened_at - earlier.opened_at for earlier, later in zip(captures, captures[1:], strict=False)]
    assert len(gaps) >= 3
    assert max(gaps) < FIRST_BACKOFF_S + 0.3, gaps  # never 1, 2, 4 s: each outage starts at the first step


def test_a_camera_down_at_start_is_waited_for_unless_failing_fast():
    attempts = []

    def factory(*args):
        attempts.append(time.perf_counter())
        return ScriptedCapture(500, opens=len(attempts) > 3)  # up from the fourth attempt

    with pytest.raises(StreamError, match="could not be opened"):
        FrameSource(CAMERA, open_timeout_s=0.2, read_timeout_s=0.2, capture_factory=factory).start()
    attempts.clear()
    source = FrameSource(CAMERA, open_timeout_s=0.2, read_timeout_s=0.2, capture_factory=factory, wait_for_source=True)
    started = time.perf_counter()
    source.start()
    try:
        assert time.perf_counter() - started < 1.0 and not source.connected  # the service starts regardless
        values = drain(source, 5.0)
    finally:
        source.stop()
    assert values and source.connected is True and len(attempts) == 4


def test_rates_count_only_the_time_connected(color_model):
    from edgecls.runtime.live import LiveConfig, run_live
    from edgecls.runtime.model import load_classifier

    captures = []

    def factory(*args):
        captures.append(ScriptedCapture(good=40, opens=len(captures) not in (1, 2)))  # away for two attempts
        return captures[-1]

    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(CAMERA, read_timeout_s=1.0, capture_factory=factory).start()
    summary = run_live(classifier, source, LiveConfig(max_frames=70))
    assert summary.processed == 70 and summary.reconnects == 1 and len(captures) == 4
    assert summary.connected_seconds < summary.seconds - 1.0  # 3.5 s of backoff (0.5, 1, 2): not connected
    assert summary.fps == pytest.approx(70 / summary.connected_seconds, rel=0.05)


def timeline(*spans: tuple[str, float], fps: float = 25.0) -> list[tuple[float, str]]:
    """(time, state) per frame for consecutive (state, seconds) spans."""
    frames, now = [], 0.0
    for state, seconds in spans:
        for _ in range(int(round(seconds * fps))):
            frames.append((now, state))
            now += 1 / fps
    return frames


def test_flashing_yellow_is_reported_within_three_seconds_and_ends_as_fast():
    from edgecls.runtime.smoothing import FlashDetector

    flashing = [("yellow", 0.5), ("off", 0.5)] * 4
    frames = timeline(("red", 3.0), *flashing, ("green", 4.0))
    detector = FlashDetector(("green", "off", "red", "yellow"))
    reported = [(now, detector.update(now, state)) for now, state in frames]
    flash_start = next(now for now, state in frames if state == "yellow")
    flash_end = next(now for now, state in frames if state == "green")
    first = next(now for now, state in reported if state == "flashing_yellow")
    assert flash_start <= first <= flash_start + 3.0
    steady = next(now for now, state in reported if now > flash_end and state == "green")
    assert steady - flash_end <= 3.0
    assert all(state == "flashing_yellow" for now, state in reported if first <= now < flash_end)
    assert {state for now, state in reported if now < flash_start} == {"red"}  # a steady light never flashes


def test_an_outage_and_a_normal_cycle_are_not_flashing():
    from edgecls.runtime.smoothing import FlashDetector

    frames = timeline(("red", 3.0), ("green", 2.5), ("yellow", 1.0), ("red", 0.8), ("off", 2.0), ("red", 3.0))
    detector = FlashDetector(("green", "off", "red", "yellow"))
    assert not any(detector.update(now, state).startswith("flashing") for now, state in frames)
    passthrough = FlashDetector(("red", "green", "blue"))  # no `off` class: nothing to detect
    assert passthrough.update(0.0, "red") == "red"


class StuckCapture(ScriptedCapture):
    """Green frames at 25 fps with sensor noise, except between `stuck_from` and `stuck_to` (frame
    numbers) where the very same picture repeats: a stuck encoder."""

    def __init__(self, stuck_from: int, stuck_to: int) -> None:
        super().__init__(good=10_000)
        self.stuck_from, self.stuck_to = stuck_from, stuck_to
        self.rng = np.random.default_rng(0)
        self.still = self._picture()

    def _picture(self) -> np.ndarray:
        image = np.zeros((48, 64, 3), np.uint8)
        image[..., 1] = 200 + self.rng.integers(0, 20, (48, 64))  # green, BGR
        return image

    def read(self):
        self.count += 1
        time.sleep(0.04)
        return True, self.still if self.stuck_from <= self.count < self.stuck_to else self._picture()


def test_a_picture_that_never_changes_is_a_frozen_frame_not_a_state(color_model, tmp_path):
    import json

    from edgecls.runtime.live import LiveConfig, run_live
    from edgecls.runtime.model import load_classifier

    source = FrameSource(CAMERA, capture_factory=lambda *a: StuckCapture(25, 75)).start()
    config = LiveConfig(smooth=1, stall_timeout_s=1.0, events=tmp_path / "events.jsonl", max_frames=110)
    summary = run_live(load_classifier(color_model, "cpu"), source, config)
    changes = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    steps = [(change["to"], change["reason"]) for change in changes]
    assert steps == [("green", ""), ("unknown", "frozen frame"), ("green", "")]
    assert summary.final_state == "green"
