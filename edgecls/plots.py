"""The benchmark plot: latency at the smallest batch and throughput at the largest, per model."""

from __future__ import annotations

from pathlib import Path

from edgecls.core.errors import require_extra
from edgecls.core.files import atomic_path


def plot_bench(records: list[dict], path: Path, title: str = "") -> None:
    require_extra("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    smallest = min(record["batch"] for record in records)
    largest = max(record["batch"] for record in records)
    figure, axes = plt.subplots(1, 2, figsize=(14, max(3.0, 0.45 * len(records) + 1.5)))
    for axis, batch, key, label in (
        (axes[0], smallest, "p50_ms", f"median latency, batch {smallest} (ms, log scale; lower is better)"),
        (axes[1], largest, "images_per_s", f"throughput, batch {largest} (images/s, log scale)"),
    ):
        rows = [record for record in records if record["batch"] == batch]
        names = [f"{r['name']} [{r['engine']}, {r['precision']}, {r['provider']}]" for r in rows]
        values = [r[key] for r in rows]
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
