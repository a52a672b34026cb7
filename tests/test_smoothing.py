"""The smoothed state and flashing detection (runtime/smoothing.py), on their own clocks."""

from __future__ import annotations

import numpy as np

from edgecls.runtime.smoothing import StateSmoother


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


def test_smoother_ignores_one_odd_frame_and_reports_unknown():
    smoother = StateSmoother(("red", "green"), window=5, min_score=0.6)
    red, green, unsure = np.array([0.9, 0.1]), np.array([0.1, 0.9]), np.array([0.55, 0.45])
    states = [smoother.update(p)[0] for p in [red, red, red, green, red, red]]
    assert states == ["red"] * 6
    assert [smoother.update(green)[0] for _ in range(5)][-1] == "green"
    fresh = StateSmoother(("red", "green"), window=1, min_score=0.6)
    assert fresh.update(unsure)[0] == "unknown"
