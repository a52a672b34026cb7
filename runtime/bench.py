"""Benchmark timing: cold start, warm latency percentiles and throughput of ONNX models (the
primitives `edgecls.trainer.timing` times Keras models with, and what the export times its gate's
latency with). Reporting (tables, plots, the machine's description) is the shell's: `edgecls.bench`. Everything
reported is what ran: the provider is read back from the engine. `run_bench` is what `edgecls bench`
and `benchmarks/run.py` both call."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np


@dataclass(frozen=True)
class BenchSettings:
    batches: tuple[int, ...] = (1, 8)
    warmup: int = 10
    iterations: int | None = None  # fixed count; otherwise run for `seconds`
    seconds: float = 5.0
    min_iterations: int = 10
    threads: int | None = None


logger = logging.getLogger(__name__)


def latency_stats(samples_s: list[float] | np.ndarray, batch: int) -> dict:
    """p50 / p90 / p99 / mean / min / max in milliseconds and images per second, from per-call seconds."""
    samples = np.asarray(samples_s, dtype=np.float64)
    if samples.size == 0:
        raise ValueError("no timing samples")
    p50, p90, p99 = np.percentile(samples, [50, 90, 99]) * 1000
    return {
        "iterations": int(samples.size),
        "p50_ms": round(float(p50), 3),
        "p90_ms": round(float(p90), 3),
        "p99_ms": round(float(p99), 3),
        "mean_ms": round(float(samples.mean() * 1000), 3),
        "min_ms": round(float(samples.min() * 1000), 3),
        "max_ms": round(float(samples.max() * 1000), 3),
        "images_per_s": round(float(batch / np.median(samples)), 2),
    }


def time_calls(call: Callable[[], object], settings: BenchSettings) -> list[float]:
    """Warm up, then time `call` with perf_counter for `iterations` calls or `seconds` of wall time."""
    for _ in range(settings.warmup):
        call()
    samples = []
    deadline = time.perf_counter() + settings.seconds
    while True:
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
        if settings.iterations is not None:
            if len(samples) >= settings.iterations:
                break
        elif time.perf_counter() >= deadline and len(samples) >= settings.min_iterations:
            break
    return samples


class _Record(TypedDict):
    model: str
    name: str
    engine: str  # "onnxruntime" or "keras"
    backbone: str
    precision: str
    provider: str  # what ran, read back from the engine
    batch: int
    image_size: list[int]
    size_mb: float
    cold_start_ms: float
    threads: int | None
    iterations: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    images_per_s: float


class BenchRecord(_Record, total=False):
    """One model x engine x provider x batch size: the schema of `edgecls bench --json` records,
    shared by ONNX and Keras timing. The optional keys belong to one engine or to `--data`."""

    session_providers: list[str]  # onnxruntime
    gflops_per_image: float | None  # onnxruntime, from the model's metadata
    achieved_gflops_per_s: float | None
    tensorflow: str  # keras
    accuracy: float | None  # with a labelled folder
    num_images: int
    num_failed: int
    end_to_end_ms_per_image: float


@dataclass
class Timed:
    """A loaded model as the timing sees it: `forward` runs one prepared batch (`prepare` turns uint8
    NHWC images into what `forward` takes, outside the timing); `fields` describe what ran."""

    forward: Callable[[Any], object]
    input_size: tuple[int, int]
    fields: dict[str, Any]
    prepare: Callable[[np.ndarray], Any] = lambda images: images


def measure(load: Callable[[], Timed], settings: BenchSettings) -> list[BenchRecord]:
    """Cold start (load + first call), then one record per batch size of warm latency and throughput."""
    started = time.perf_counter()
    timed = load()
    height, width = timed.input_size
    rng = np.random.default_rng(0)
    timed.forward(timed.prepare(rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)))
    cold_start_ms = round((time.perf_counter() - started) * 1000, 1)
    records = []
    for batch in settings.batches:
        images = timed.prepare(rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8))
        stats = latency_stats(time_calls(functools.partial(timed.forward, images), settings), batch)
        values = {**timed.fields, **stats, "batch": batch, "image_size": [height, width], "cold_start_ms": cold_start_ms}
        record = cast(BenchRecord, values)
        if "gflops_per_image" in record:
            gflops = record["gflops_per_image"]
            record["achieved_gflops_per_s"] = round(gflops * stats["images_per_s"], 2) if gflops else None
        records.append(record)
    return records


def bench_onnx(path: str | os.PathLike[str], provider: str, settings: BenchSettings) -> list[BenchRecord]:
    """One record per batch size for the ONNX model at `path` (see `latency_stats` for the figures).

    Raises:
        ProviderError: the provider cannot run here (never silently measured on another one).
    """
    from .model import load_classifier
    from .providers import usable_cpus

    path = Path(path)

    def load() -> Timed:
        classifier = load_classifier(path, provider, threads=settings.threads)
        fields = {
            "model": str(path),
            "name": path.name,
            "engine": "onnxruntime",
            "backbone": classifier.info.backbone,
            "precision": classifier.info.precision,
            "provider": classifier.provider,
            "session_providers": list(classifier.session.get_providers()),
            "size_mb": round(path.stat().st_size / 2**20, 2),
            "threads": settings.threads or usable_cpus(),
            "gflops_per_image": _metadata_float(classifier, "gflops_per_image"),
        }
        return Timed(classifier.predict, classifier.info.input_size, fields)

    return measure(load, settings)


def _metadata_float(classifier, key: str) -> float | None:
    value = dict(classifier.session.get_modelmeta().custom_metadata_map).get(key)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def bench_end_to_end(path: str | os.PathLike[str], data: str, provider: str, batch: int, threads: int | None) -> dict:
    """Top-1 accuracy on a labelled folder (class subfolders) and wall time per image for the whole
    path a user runs: decode, resize, infer."""
    from .classify import classify_files
    from .folders import labelled_files
    from .model import load_classifier

    classifier = load_classifier(path, provider, threads=threads)
    truth = dict(labelled_files(data, classifier.info.classes))
    started = time.perf_counter()
    results = list(classify_files(classifier, list(truth), batch_size=batch))
    seconds = time.perf_counter() - started
    classified = [result for result in results if result.ok]
    correct = sum(result.label == truth[result.path] for result in classified)
    return {
        "accuracy": round(correct / len(classified), 4) if classified else None,
        "num_images": len(classified),
        "num_failed": len(results) - len(classified),
        "end_to_end_ms_per_image": round(seconds * 1000 / max(1, len(results)), 3),
    }
