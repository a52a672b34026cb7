"""What `edgecls bench` and `benchmarks/` report: the machine a figure was measured on, the table,
the JSON document and the plot; and `run_bench`, every model asked for (ONNX through
`runtime.bench`, Keras through `trainer.timing`)."""

from __future__ import annotations

import io
import logging
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecls.runtime.bench import BenchRecord, BenchSettings, bench_end_to_end, bench_onnx

logger = logging.getLogger(__name__)


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
    from edgecls.runtime.providers import cuda_unavailable_reason, onnxruntime_wheels

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
        "onnxruntime_wheel": ", ".join(onnxruntime_wheels()),
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
