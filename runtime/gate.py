"""Change gating: skip the model for a region that has not changed since it was last classified.

A traffic light holds its state for seconds; most classifications of a steady light give the answer
the last one gave. The gate compares a tiny picture of the region (a grid of cell averages, each
cell at least a few pixels, so sensor noise averages out) with the one taken when the model last
ran, after scaling both to the same mean brightness (so a global flicker of the lighting or the
exposure does not count as change). A lamp that lights or goes dark moves its cells by far more
than the threshold. The model runs when any cell moved by more than `threshold` levels (of 255), and
at least every `heartbeat_s` seconds whatever the picture does; a change is therefore classified at
the first frame that shows it, never later.
"""

from __future__ import annotations

import cv2
import numpy as np

GRID = 16  # cells across the region at most
MIN_CELL_PX = 3  # a cell averages at least this many pixels each way (noise falls as the cell grows)
THRESHOLD = 24.0  # levels (of 255, at the region's mean brightness) a cell may move and still be "the same"


def signature(region: np.ndarray) -> np.ndarray:
    """A grid of cell averages of `region` (BGR), scaled to a mean of 128: what the gate compares."""
    height, width = region.shape[:2]
    cells_x = max(1, min(GRID, width // MIN_CELL_PX))
    cells_y = max(1, min(GRID, height // MIN_CELL_PX))
    cells = cv2.resize(region, (cells_x, cells_y), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cells * (128.0 / max(float(cells.mean()), 1.0))


class ChangeGate:
    """Whether one region needs the model now (see the module's description).

    Args:
        heartbeat_s: classify at least this often, changed or not; 0 turns the gate off (always classify).
        threshold: how far (levels of 255) a cell may move before the region counts as changed.
    """

    def __init__(self, heartbeat_s: float, threshold: float = THRESHOLD) -> None:
        self.heartbeat_s = heartbeat_s
        self.threshold = threshold
        self._signature: np.ndarray | None = None  # when the model last ran
        self._at = float("-inf")

    def unchanged(self, region: np.ndarray, now: float) -> bool:
        """True when the model may be skipped for `region` at time `now` (seconds): it looks as it
        did when last classified, and that was under `heartbeat_s` ago. False otherwise, and the
        region is remembered as classified at `now`: the caller runs the model on it."""
        if self.heartbeat_s <= 0:
            return False
        current = signature(region)
        last = self._signature
        if (
            last is not None
            and last.shape == current.shape
            and now - self._at < self.heartbeat_s
            and float(np.abs(current - last).max()) <= self.threshold
        ):
            return True
        self._signature, self._at = current, now
        return False

    def reset(self) -> None:
        """Forget the last classification (the source was lost): the next region is classified."""
        self._signature, self._at = None, float("-inf")
