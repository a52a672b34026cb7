"""Smoothing of per-frame predictions: a moving average with hysteresis, so one odd frame never
flips the reported state."""

from __future__ import annotations

from collections import deque

import numpy as np

UNKNOWN = "unknown"


class StateSmoother:
    """Average the last `window` probability vectors; change state only when a new candidate wins
    `hold` frames in a row (default: half the window). Below `min_score` the candidate is 'unknown'."""

    def __init__(self, classes: tuple[str, ...], window: int = 5, min_score: float = 0.0, hold: int | None = None):
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.classes = classes
        self.min_score = min_score
        self.hold = hold if hold is not None else max(1, window // 2)
        self._history: deque[np.ndarray] = deque(maxlen=window)
        self.state = UNKNOWN
        self.score = 0.0
        self.changes = 0
        self._candidate = UNKNOWN
        self._streak = 0

    def update(self, probabilities: np.ndarray) -> tuple[str, float]:
        """Add one frame's probabilities; returns the (smoothed state, its mean score)."""
        self._history.append(np.asarray(probabilities, dtype=np.float32))
        mean = np.mean(self._history, axis=0)
        best = int(mean.argmax())
        score = float(mean[best])
        candidate = self.classes[best] if score >= self.min_score else UNKNOWN
        if candidate == self.state:
            self._streak = 0
        else:
            self._streak = self._streak + 1 if candidate == self._candidate else 1
            self._candidate = candidate
            if self._streak >= self.hold or self.state == UNKNOWN and len(self._history) == 1:
                self.state = candidate
                self.changes += 1
                self._streak = 0
        self.score = float(mean[self.classes.index(self.state)]) if self.state != UNKNOWN else score
        return self.state, self.score

    def reset(self) -> None:
        """Forget the history (after a gap in the stream), keeping the state until evidence changes it."""
        self._history.clear()
        self._streak = 0
