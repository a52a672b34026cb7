"""Smoothing of per-frame predictions: a moving average with hysteresis, so one odd frame never
flips the reported state."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

UNKNOWN = "unknown"


NOMINAL_FPS = 25.0  # a window of N frames is N / NOMINAL_FPS seconds when smoothing in time


class StateSmoother:
    """Average the probability vectors of the last `window` frames; change state only when a new
    candidate wins `hold` frames in a row (default: half the window). Below `min_score` the candidate
    is 'unknown'. `decide` picks the candidate's index from the averaged probabilities (default: the
    most probable; a model's `ModelInfo.decide` also holds back a class that must be earned).

    Given each frame's time (`update(p, now_s)`), the window and the hold are times: `window` frames
    at NOMINAL_FPS (5 frames: the last 0.2 s) and the hold likewise, so the state behaves the same
    whatever the rate it is classified at (25 a second, or 5 with `--classify-fps 5`); at 25 a
    second it is exactly the frame-count rule."""

    def __init__(
        self,
        classes: tuple[str, ...],
        window: int = 5,
        min_score: float = 0.0,
        hold: int | None = None,
        decide: Callable[[np.ndarray], int] | None = None,
    ):
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.classes = classes
        self.decide = decide or (lambda mean: int(mean.argmax()))
        self.min_score = min_score
        self.hold = hold if hold is not None else max(1, window // 2)
        self.window_s = window / NOMINAL_FPS
        self.hold_s = (self.hold - 1) / NOMINAL_FPS  # the first win counts: `hold` wins span hold - 1 periods
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=window)
        self._timed = False
        self.state = UNKNOWN
        self.score = 0.0
        self.changes = 0
        self._candidate = UNKNOWN
        self._streak = 0
        self._since = 0.0

    def update(self, probabilities: np.ndarray, now_s: float | None = None) -> tuple[str, float]:
        """Add one frame's probabilities (seen at `now_s`, seconds on the source's clock: the window
        and the hold in time; None: in frames); returns the (smoothed state, its mean score)."""
        if now_s is not None and not self._timed:
            self._timed = True
            self._history = deque(self._history)  # unbounded: the window is a time now
        self._history.append((now_s or 0.0, np.asarray(probabilities, dtype=np.float32)))
        if self._timed:
            while self._history[0][0] <= (now_s or 0.0) - self.window_s + 1e-6:
                self._history.popleft()
        mean = np.mean([p for _, p in self._history], axis=0)
        best = self.decide(mean)
        score = float(mean[best])
        candidate = self.classes[best] if score >= self.min_score else UNKNOWN
        if candidate == UNKNOWN and best != int(mean.argmax()):
            # The most probable class is held back by its minimum and the next one is not sure either:
            # mixed evidence (a light between two states), not a reason to call it unknown.
            candidate = self.state
        if candidate == self.state:
            self._streak = 0
        else:
            if candidate != self._candidate or self._streak == 0:
                self._since = now_s or 0.0
            self._streak = self._streak + 1 if candidate == self._candidate else 1
            self._candidate = candidate
            held = (now_s or 0.0) - self._since >= self.hold_s - 1e-6 if self._timed else self._streak >= self.hold
            if held or self.state == UNKNOWN and len(self._history) == 1:
                self.state = candidate
                self.changes += 1
                self._streak = 0
        self.score = float(mean[self.classes.index(self.state)]) if self.state != UNKNOWN else score
        return self.state, self.score

    def reset(self) -> None:
        """Forget the history (after a gap in the stream), keeping the state until evidence changes it."""
        self._history.clear()
        self._streak = 0


OFF = "off"
FLASHING = "flashing_"


class FlashDetector:
    """Flashing lights from the smoothed state's on/off cycle: a colour alternating with `off` at
    about 1 Hz (each phase `min_phase_s` to `max_phase_s` long) is reported as `flashing_<colour>`
    once it has been lit, dark and lit again (or dark, lit, dark); as soon as a phase outlasts
    `max_phase_s`, or another colour shows, the steady state is reported again.

    Needs a model with an `off` class; for any other model it passes the state through."""

    def __init__(self, classes: tuple[str, ...], min_phase_s: float = 0.2, max_phase_s: float = 1.6) -> None:
        self.enabled = OFF in classes
        self.min_phase_s, self.max_phase_s = min_phase_s, max_phase_s
        self._phases: deque[tuple[str, float]] = deque(maxlen=3)  # (state, start time) of the newest phases
        self.flashing: str | None = None  # the colour flashing now

    def update(self, now_s: float, state: str) -> str:
        """The state to report at `now_s` given the smoothed `state`."""
        if not self.enabled:
            return state
        if not self._phases or self._phases[-1][0] != state:
            self._end_phase(now_s, state)
        if self.flashing is not None and now_s - self._phases[-1][1] > self.max_phase_s:
            self.flashing = None  # lit (or dark) too long to be flashing: steady again
        return FLASHING + self.flashing if self.flashing is not None else state

    def _end_phase(self, now_s: float, state: str) -> None:
        if self._phases:
            length = now_s - self._phases[-1][1]
            if not self.min_phase_s <= length <= self.max_phase_s:
                self._phases.clear()  # too short (noise) or too long (steady): start counting again
        self._phases.append((state, now_s))
        states = [phase for phase, _ in self._phases]
        colours = {phase for phase in states if phase != OFF}
        alternating = len(states) == 3 and states[0] == states[2] != states[1] and OFF in states
        if alternating and len(colours) == 1 and UNKNOWN not in colours:
            self.flashing = colours.pop()
        elif self.flashing is not None and state not in (OFF, self.flashing):
            self.flashing = None  # another colour: the light is cycling again
            self._phases.clear()
            self._phases.append((state, now_s))
