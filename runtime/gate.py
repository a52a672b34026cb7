"""Change gating: skip the model for a region that looks as it did when it was last classified.

A traffic light holds its state for seconds; most classifications of a steady light give the answer
the last one gave. The gate compares a tiny picture of the region (a grid of cell averages, each
cell at least a few pixels, so sensor noise averages out) with the ones taken when the model ran,
after scaling both to the same mean brightness (so a global flicker of the lighting or the exposure
does not count as change). A lamp that lights or goes dark moves its cells by far more than the
threshold. The model runs when the region matches none of the remembered looks (no cell moved by
more than `threshold` levels of 255), and for each look at least every `heartbeat_s` seconds
whatever the picture does; a change to a new look is therefore classified at the first frame that
shows it, never later.

Several looks are remembered (`memory`, the newest kept): a flashing lamp shows two, lit and dark,
and each phase then reuses the answer its look got under a heartbeat ago instead of running the
model at every flip. The caller says which answers may stand in for later frames (sure ones); the
model runs only on a region that matches no look still fresh, so no two fresh looks stand for the
same picture.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

GRID = 16  # cells across the region at most
MIN_CELL_PX = 3  # a cell averages at least this many pixels each way (noise falls as the cell grows)
THRESHOLD = 24.0  # levels (of 255, at the region's mean brightness) a cell may move and still be "the same"
MEMORY = 4  # looks remembered per region: a flashing lamp shows two


def signature(region: np.ndarray) -> np.ndarray:
    """A grid of cell averages of `region` (BGR), scaled to a mean of 128: what the gate compares."""
    height, width = region.shape[:2]
    cells_x = max(1, min(GRID, width // MIN_CELL_PX))
    cells_y = max(1, min(GRID, height // MIN_CELL_PX))
    cells = cv2.resize(region, (cells_x, cells_y), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cells * (128.0 / max(float(cells.mean()), 1.0))


class ChangeGate:
    """Whether one region needs the model now, and the answer to reuse when not (see the module).

    Args:
        heartbeat_s: a look's answer is reused for at most this long; 0 turns the gate off (always classify).
        threshold: how far (levels of 255) a cell may move before the region counts as changed.
        memory: how many looks (and their answers) are remembered.
    """

    def __init__(self, heartbeat_s: float, threshold: float = THRESHOLD, memory: int = MEMORY) -> None:
        self.heartbeat_s = heartbeat_s
        self.threshold = threshold
        # (signature, classified at, answer), newest last; the oldest goes when a new one comes to a full memory
        self._looks: deque[tuple[np.ndarray, float, np.ndarray]] = deque(maxlen=memory)
        self._pending: np.ndarray | None = None  # the signature of the region the model runs on now

    def reuse(self, region: np.ndarray, now: float) -> np.ndarray | None:
        """The answer remembered for the look `region` has at time `now` (seconds), given under
        `heartbeat_s` ago: the model may be skipped. None when there is none: the caller runs the
        model and reports its answer with `classified`."""
        self._pending = None
        if self.heartbeat_s <= 0:
            return None
        current = signature(region)
        for look, at, answer in reversed(self._looks):
            if now - at < self.heartbeat_s and look.shape == current.shape and float(np.abs(current - look).max()) <= self.threshold:
                return answer
        self._pending = current
        return None

    def classified(self, answer: np.ndarray | None, now: float, reusable: bool) -> None:
        """The model's `answer` for the region `reuse` last declined, at `now`: remembered when
        `reusable` (the caller trusts it to stand in); looks past the heartbeat are let go."""
        current, self._pending = self._pending, None
        if current is None or not reusable or answer is None:
            return
        while self._looks and now - self._looks[0][1] >= self.heartbeat_s:
            self._looks.popleft()  # oldest first: every look is younger than the ones before it
        self._looks.append((current, now, answer))

    def reset(self) -> None:
        """Forget every look (the source was lost): the next region is classified."""
        self._looks.clear()
        self._pending = None
