"""Benchmark timing for ONNX models: cold start, warm latency percentiles, throughput, and the
environment it ran in. Everything reported is what ran: the provider is read back from the session."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class BenchSettings:
    batches: tuple[int, ...] = (1, 8)
    warmup: int = 10
    iterations: int | None = None  # fixed count; otherwise run for `seconds`
    seconds: float = 5.0
    min_iterations: int = 10
    threads: int | None = None


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


def bench_onnx(path: str | os.PathLike[str], provider: str, settings: BenchSettings) -> list[dict]:
    """One record per batch size for the ONNX model at `path` (see `latency_stats` for the figures).

    Raises:
        ProviderError: the provider cannot run here (never silently measured on another one).
    """
    from edgecls.runtime.model import load_classifier
    from edgecls.runtime.providers import usable_cpus

    path = Path(path)
    started = time.perf_counter()
    classifier = load_classifier(path, provider, threads=settings.threads)
    height, width = classifier.info.input_size
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    classifier.predict(first)
    cold_start_s = time.perf_counter() - started
    gflops = _metadata_float(classifier, "gflops_per_image")
    records = []
    for batch in settings.batches:
        images = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
        stats = latency_stats(time_calls(lambda images=images: classifier.predict(images), settings), batch)
        records.append(
            {
                "model": str(path),
                "name": path.name,
                "engine": "onnxruntime",
                "backbone": classifier.info.backbone,
                "precision": classifier.info.precision,
                "provider": classifier.provider,
                "session_providers": list(classifier.session.get_providers()),
                "batch": batch,
                "image_size": [height, width],
                "size_mb": round(path.stat().st_size / 2**20, 2),
                "cold_start_ms": round(cold_start_s * 1000, 1),
                "gflops_per_image": gflops,
                "achieved_gflops_per_s": round(gflops * stats["images_per_s"], 2) if gflops else None,
                "threads": settings.threads or usable_cpus(),
                **stats,
            }
        )
    return records


def _metadata_float(classifier, key: str) -> float | None:
    value = dict(classifier.session.get_modelmeta().custom_metadata_map).get(key)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def environment() -> dict:
    """CPU, cores, GPU (if any), library versions: stored with every benchmark record."""
    import cv2
    import onnxruntime

    from edgecls import __version__

    cpu = platform.processor() or platform.machine()
    flags: list[str] = []
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name") and cpu in ("", platform.machine(), platform.processor()):
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    flags = sorted(present & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "f16c"})
                    break
    except OSError:
        pass
    from edgecls.runtime.providers import cuda_unavailable_reason

    problem = cuda_unavailable_reason()
    return {
        "cpu": cpu,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "gpu": _gpu_name() if problem is None else None,
        "cuda": "available" if problem is None else f"unavailable: {problem[0]}",
        "os": platform.platform(),
        "python": platform.python_version(),
        "edgecls": __version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


def _gpu_name() -> str | None:
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return None
    result = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout.strip().splitlines()[0] if result.returncode == 0 and result.stdout.strip() else None


def format_table(records: list[dict]) -> str:
    """A plain-text table: one row per model x provider x batch."""
    columns = [
        ("name", "model", "{}"),
        ("precision", "prec", "{}"),
        ("provider", "provider", "{}"),
        ("batch", "batch", "{}"),
        ("p50_ms", "p50 ms", "{:.2f}"),
        ("p90_ms", "p90 ms", "{:.2f}"),
        ("p99_ms", "p99 ms", "{:.2f}"),
        ("images_per_s", "img/s", "{:.1f}"),
        ("cold_start_ms", "cold ms", "{:.0f}"),
        ("size_mb", "MB", "{:.1f}"),
        ("achieved_gflops_per_s", "GFLOP/s", "{:.1f}"),
        ("accuracy", "acc", "{:.3f}"),
        ("end_to_end_ms_per_image", "e2e ms/img", "{:.2f}"),
    ]
    present = [column for column in columns if any(record.get(column[0]) is not None for record in records)]
    rows = [[header for _, header, _ in present]]
    for record in records:
        rows.append([fmt.format(record[key]) if record.get(key) is not None else "-" for key, _, fmt in present])
    widths = [max(len(row[index]) for row in rows) for index in range(len(present))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def bench_end_to_end(path: str | os.PathLike[str], data: str, provider: str, batch: int, threads: int | None) -> dict:
    """Top-1 accuracy on a labelled folder (class subfolders) and wall time per image for the whole
    path a user runs: decode, resize, infer."""
    from edgecls.core.errors import DataError
    from edgecls.runtime.classify import classify_files, list_class_folders
    from edgecls.runtime.model import load_classifier

    classifier = load_classifier(path, provider, threads=threads)
    folders = list_class_folders(Path(data), role="`data`")
    unknown = sorted(set(folders) - set(classifier.info.classes))
    if unknown:
        raise DataError(f"`data` {data}: class folder(s) {', '.join(unknown)} are not classes of {path}.")
    truth = {str(file): name for name, files in folders.items() for file in files}
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
