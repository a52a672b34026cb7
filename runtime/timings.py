"""Histograms of durations (decode, inference) kept by the thread that does the work and read by
another (a /metrics scrape) as a consistent snapshot, without a lock on the hot path."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

DECODE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
INFERENCE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class TimingsSnapshot:
    bounds: tuple[float, ...]  # each bucket's upper bound, seconds (a last one, +Inf, is implied)
    cumulative: tuple[int, ...]  # observations at or under each bound, then all of them
    sum: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


class Timings:
    """Counts per bucket and the sum of durations, observed by one thread."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self.bounds, seconds)] += 1
        self._sum += seconds

    def snapshot(self) -> TimingsSnapshot:
        counts, total = list(self._counts), self._sum  # the counts copied whole (the sum may miss one observation)
        cumulative, running = [], 0
        for count in counts:
            running += count
            cumulative.append(running)
        return TimingsSnapshot(self.bounds, tuple(cumulative), total)
