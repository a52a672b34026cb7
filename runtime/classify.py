"""Classify image files: decode in parallel (the inputs come from `folders.collect_inputs`), infer in batches.

One bad file never stops the run: it becomes a result with an `error` and the rest go on.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecls.core.errors import EdgeclsError

from .contract import ModelInfo
from .images import DEFAULT_MAX_PIXELS
from .model import Classifier, predict_in_batches


@dataclass(frozen=True)
class FileResult:
    """The outcome for one input: a label and its top-k, or an error."""

    path: str
    label: str | None = None
    score: float | None = None
    topk: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        if self.error is not None or self.score is None:
            return {"path": self.path, "error": self.error}
        return {
            "path": self.path,
            "label": self.label,
            "score": round(self.score, 6),
            "topk": [{"label": label, "score": round(score, 6)} for label, score in self.topk],
        }


def bounded_map(function: Callable, items: Iterable, workers: int, window: int) -> Iterator:
    """Like `executor.map`, in order, but with at most `window` items in flight (bounded memory)."""
    with ThreadPoolExecutor(max_workers=workers) as executor:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(executor.submit(function, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def classify_files(
    classifier: Classifier,
    inputs: Sequence[str | FileResult],
    batch_size: int = 16,
    topk: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    load: Callable[[str], np.ndarray] | None = None,
) -> Iterator[FileResult]:
    """Classify every input, yielding one FileResult per input in input order.

    Decoding runs on `workers` threads (OpenCV releases the GIL); inference runs in batches of
    `batch_size`. `load` reads one input into the model's input (default: the local file, by
    `Classifier.load`); its errors become results with an `error`; nothing raises for a bad file.
    """
    topk = max(1, min(topk, classifier.info.num_classes))
    workers = workers or min(4, os.cpu_count() or 1)
    read = load or (lambda item: classifier.load(item, max_pixels=max_pixels))

    def decode(item: str | FileResult) -> tuple[str | FileResult, np.ndarray | None, str | None]:
        if isinstance(item, FileResult):
            return item, None, None
        try:
            return item, read(item), None
        except EdgeclsError as error:
            return item, None, str(error).removeprefix(f"{item}: ").removeprefix(f"{Path(item)}: ")
        except MemoryError:
            return item, None, "out of memory while decoding"

    batch: list[tuple[str, np.ndarray]] = []
    for item, image, error in bounded_map(decode, inputs, workers, window=2 * batch_size):
        if isinstance(item, FileResult):
            yield from _flush(classifier, batch, topk)
            batch = []
            yield item
        elif image is None:
            yield from _flush(classifier, batch, topk)
            batch = []
            yield FileResult(item, error=error)
        else:
            batch.append((item, image))
            if len(batch) == batch_size:
                yield from _flush(classifier, batch, topk)
                batch = []
    yield from _flush(classifier, batch, topk)


def _flush(classifier: Classifier, batch: list[tuple[str, np.ndarray]], topk: int) -> Iterator[FileResult]:
    if not batch:
        return
    probabilities = predict_in_batches(classifier.predict, np.stack([image for _, image in batch]), len(batch))
    for (path, _), row in zip(batch, probabilities, strict=True):
        yield result_from_probabilities(path, row, classifier.info, topk)


NOT_FINITE = "the model's output is not finite (NaN or infinity) for this input; the model file may be damaged"


def result_from_probabilities(path: str, row: np.ndarray, info: ModelInfo, topk: int) -> FileResult:
    """The label is the model's decision (`ModelInfo.decide`: a class that must be earned is not
    reported below its minimum score); `topk` ranks the probabilities as they are."""
    if not np.isfinite(row).all():  # never a number that JSON cannot carry
        return FileResult(path, error=NOT_FINITE)
    order = np.argsort(-row, kind="stable")[:topk]
    ranked = [(info.classes[index], float(row[index])) for index in order]
    chosen = info.decide(row)
    return FileResult(path, label=info.classes[chosen], score=float(row[chosen]), topk=ranked)
