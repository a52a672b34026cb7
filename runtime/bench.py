"""Benchmark timing: cold start, warm latency percentiles, throughput, and the environment it ran
in, for ONNX models (and, through `edgecls.trainer.timing`, their Keras originals). Everything
reported is what ran: the provider is read back from the engine. `run_bench` is what `edgecls bench`
and `benchmarks/run.py` both call."""

from __future__ import annotations

import functools
import io
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
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
    from edgecls.runtime.model import load_classifier
    from edgecls.runtime.providers import usable_cpus

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


def format_table(records: Sequence[BenchRecord]) -> str:
    """A plain-text table (rich's, without colour): one row per model x provider x batch."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

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
    values: list[dict[str, Any]] = [dict(record) for record in records]
    present = [column for column in columns if any(row.get(column[0]) is not None for row in values)]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="")
    for key, header, _ in present:
        table.add_column(header, justify="left" if key in ("name", "precision", "provider") else "right")
    for row in values:
        table.add_row(*(fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in present))
    buffer = io.StringIO()
    Console(file=buffer, width=400, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def bench_end_to_end(path: str | os.PathLike[str], data: str, provider: str, batch: int, threads: int | None) -> dict:
    """Top-1 accuracy on a labelled folder (class subfolders) and wall time per image for the whole
    path a user runs: decode, resize, infer."""
    from edgecls.runtime.classify import classify_files, labelled_files
    from edgecls.runtime.model import load_classifier

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


def run_bench(
    models: Sequence[str | os.PathLike[str]],
    provider: str,
    settings: BenchSettings,
    data: str | os.PathLike[str] | None = None,
    keras: str | os.PathLike[str] | None = None,
) -> list[BenchRecord]:
    """Every ONNX model in `models` on `provider`; with `data` (a labelled folder) also accuracy and
    end-to-end time per image; with `keras` (a run directory or .keras file) its Keras model too."""
    records: list[BenchRecord] = []
    for model in models:
        logger.info(f"timing {model} ...")
        model_records = bench_onnx(model, provider, settings)
        if data is not None:
            extra = bench_end_to_end(model, str(data), provider, max(settings.batches), settings.threads)
            for record in model_records:
                record.update(extra)  # type: ignore[typeddict-item]
        records += model_records
    if keras is not None:
        from edgecls.core.errors import require_extra

        require_extra("tensorflow")
        from edgecls.trainer.timing import bench_keras

        logger.info(f"timing Keras {keras} ...")
        records += bench_keras(str(keras), settings)
    return records


def bench_document(records: Sequence[BenchRecord], settings: BenchSettings, env: dict, **extra: object) -> dict:
    """What `--json` writes: the environment, the settings and the records (and any `extra` sections)."""
    return {
        "environment": env,
        "settings": {**settings.__dict__, "batches": list(settings.batches)},
        "records": list(records),
        **extra,
    }


def plot_bench(records: Sequence[BenchRecord], path: Path, title: str = "") -> None:
    """Latency at the smallest batch and throughput at the largest, one bar per model."""
    from edgecls.core.errors import require_extra
    from edgecls.core.files import atomic_path

    require_extra("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    smallest = min(record["batch"] for record in records)
    largest = max(record["batch"] for record in records)
    figure, axes = plt.subplots(1, 2, figsize=(14, max(3.0, 0.45 * len(records) + 1.5)))
    panels: list[tuple[Any, int, Callable[[BenchRecord], float], str]] = [
        (axes[0], smallest, lambda r: r["p50_ms"], f"median latency, batch {smallest} (ms, log scale; lower is better)"),
        (axes[1], largest, lambda r: r["images_per_s"], f"throughput, batch {largest} (images/s, log scale)"),
    ]
    for axis, batch, value_of, label in panels:
        rows = [record for record in records if record["batch"] == batch]
        names = [f"{r['name']} [{r['engine']}, {r['precision']}, {r['provider']}]" for r in rows]
        values = [value_of(r) for r in rows]
        axis.barh(names, values, color="#4a7ebb")
        for index, value in enumerate(values):
            axis.text(value, index, f" {value:.1f}", va="center", fontsize=8)
        axis.set_xscale("log")  # models differ by 100x: a linear axis hides the small ones
        axis.set_title(label, fontsize=10)
        axis.invert_yaxis()
        axis.tick_params(axis="y", labelsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
