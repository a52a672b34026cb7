"""How traffic-light crops look, in numbers: the statistics of real crops, side by side with any
class-folder sets, and whether each set covers the real spread.

    python benchmarks/domain.py [NAME=FOLDER ...] [--per-class 300] [--markdown] [--json OUT]

Each NAME=FOLDER is a set of class folders (red/ yellow/ green/ off/); with none, it measures a fresh
sample of the built-in renderer (`built-in`) and of the independent yardstick (`yardstick`, which
needs the `[bench]` extra). `REAL` holds the statistics of real photographs of traffic lights taken
from vehicles (1,484 crops), as published with the problem: no real photograph is read here.

Per crop: size; `med_v` the median HSV value of all pixels (0-1); `top_v`, `top_s` the mean value and
saturation of the brightest 5% of pixels (the lamp); `contrast` = top_v - med_v; `blue_cast` =
mean(B) - mean(R); `med_s` the median saturation of all pixels; `hue` of the brightest 5% (circular
mean, degrees; its percentiles are of the 0-360 values, as the real table's); `lamp_y` the vertical centre of the brightest 3% of pixels over the crop's height.
A set covers a statistic when its p10-p90 range reaches over the real p10-p90 range (with a margin
of a tenth of that range, at least 0.02, or 3 pixels, or 15 degrees). The brightest shares count
ties whole (a clipped patch is all in or all out).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

STATS = ("height", "width", "med_v", "top_v", "top_s", "contrast", "blue_cast", "med_s", "hue", "lamp_y")
CLASSES = ("red", "yellow", "green")
# p10 / p50 / p90 per class, from real crops (red 904, yellow 44, green 536).
REAL = {
    "red": {
        "height": (39, 63, 94), "width": (19, 31, 57), "med_v": (0.35, 0.56, 0.91), "top_v": (0.90, 0.96, 0.99),
        "top_s": (0.05, 0.18, 0.55), "contrast": (0.08, 0.37, 0.58), "blue_cast": (-0.12, -0.03, 0.00),
        "med_s": (0.03, 0.09, 0.21), "hue": (9, 328, 353), "lamp_y": (0.20, 0.29, 0.44),
    },
    "yellow": {
        "height": (45, 70, 91), "width": (21, 30, 52), "med_v": (0.34, 0.58, 0.82), "top_v": (0.90, 0.96, 0.99),
        "top_s": (0.05, 0.12, 0.26), "contrast": (0.17, 0.36, 0.59), "blue_cast": (-0.05, -0.02, 0.11),
        "med_s": (0.04, 0.08, 0.18), "hue": (15, 214, 293), "lamp_y": (0.21, 0.47, 0.59),
    },
    "green": {
        "height": (37, 58, 94), "width": (19, 29, 53), "med_v": (0.32, 0.56, 0.89), "top_v": (0.74, 0.94, 0.98),
        "top_s": (0.02, 0.13, 0.58), "contrast": (0.08, 0.34, 0.56), "blue_cast": (0.01, 0.05, 0.11),
        "med_s": (0.02, 0.07, 0.19), "hue": (177, 215, 280), "lamp_y": (0.29, 0.62, 0.79),
    },
}  # fmt: skip
REAL_SHARES = {"bright scene (med_v > 0.5)": 0.60, "pale lamp (top_s < 0.3)": 0.77, "low contrast (< 0.3)": 0.40}


def crop_stats(rgb: np.ndarray) -> dict[str, float]:
    """The statistics of one RGB uint8 crop."""
    hsv = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)  # H 0-360, S and V 0-1
    hue, saturation, value = hsv[..., 0].ravel(), hsv[..., 1].ravel(), hsv[..., 2].ravel()
    # The brightest share of pixels, ties included: a clipped patch counts whole, wherever it is.
    top = np.flatnonzero(value >= np.quantile(value, 0.95))
    lamp = np.flatnonzero(value >= np.quantile(value, 0.97))
    angles = np.deg2rad(hue[top])
    mean_hue = float(np.rad2deg(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())) % 360)
    height, width = rgb.shape[:2]
    rows = lamp // width
    pixels = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    med_v, top_v = float(np.median(value)), float(value[top].mean())
    return {
        "height": height,
        "width": width,
        "med_v": med_v,
        "top_v": top_v,
        "top_s": float(saturation[top].mean()),
        "contrast": top_v - med_v,
        "blue_cast": float(pixels[:, 2].mean() - pixels[:, 0].mean()),
        "med_s": float(np.median(saturation)),
        "hue": mean_hue,
        "lamp_y": float((rows.mean() + 0.5) / height),
    }


def folder_stats(folder: Path) -> dict[str, list[dict[str, float]]]:
    """Statistics of every image in each class folder of `folder` that is one of CLASSES."""
    found = {}
    for name in CLASSES:
        files = sorted(p for p in (folder / name).glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        rows = []
        for path in files:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                rows.append(crop_stats(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
        if rows:
            found[name] = rows
    return found


def percentiles(rows: list[dict[str, float]], stat: str) -> tuple[float, float, float]:
    # Hue too, as the real table has it: percentiles of the 0-360 values (a red lamp's 9 / 328 / 353
    # says a tenth are below 9 degrees and half between 328 and 360).
    values = np.array([row[stat] for row in rows], np.float64)
    return tuple(float(q) for q in np.percentile(values, (10, 50, 90)))  # type: ignore[return-value]


def covers(mine: tuple[float, float, float], real: tuple[float, float, float], stat: str) -> bool:
    """Whether `mine`'s p10-p90 reaches over `real`'s, with a small margin."""
    if stat in ("height", "width"):
        margin = 3.0
    elif stat == "hue":
        margin = 15.0
    else:
        margin = max(0.02, 0.1 * (real[2] - real[0]))
    return mine[0] <= real[0] + margin and mine[2] >= real[2] - margin


def shares(rows: list[dict[str, float]]) -> dict[str, float]:
    return {
        "bright scene (med_v > 0.5)": float(np.mean([r["med_v"] > 0.5 for r in rows])),
        "pale lamp (top_s < 0.3)": float(np.mean([r["top_s"] < 0.3 for r in rows])),
        "low contrast (< 0.3)": float(np.mean([r["contrast"] < 0.3 for r in rows])),
    }


def summarise(sets: dict[str, dict[str, list[dict[str, float]]]]) -> dict:
    """Per set, class and statistic: p10/p50/p90 and whether it covers the real range; shares."""
    report: dict = {"real": {"percentiles": REAL, "shares": REAL_SHARES}}
    for name, by_class in sets.items():
        entry: dict = {"percentiles": {}, "covers": {}, "counts": {}}
        for cls, rows in by_class.items():
            entry["counts"][cls] = len(rows)
            entry["percentiles"][cls] = {stat: percentiles(rows, stat) for stat in STATS}
            entry["covers"][cls] = {stat: covers(entry["percentiles"][cls][stat], REAL[cls][stat], stat) for stat in STATS}
        entry["shares"] = shares([row for rows in by_class.values() for row in rows])
        report[name] = entry
    return report


def _fmt(stat: str, triple) -> str:
    if stat in ("height", "width", "hue"):
        return " / ".join(f"{v:.0f}" for v in triple)
    return " / ".join(f"{v:.2f}" for v in triple)


def table(report: dict, markdown: bool) -> str:
    """One row per class and statistic: real, then each set with a mark where it falls short."""
    names = [name for name in report if name != "real"]
    header = ["class", "stat", "real p10 / p50 / p90", *names]
    rows = []
    for cls in CLASSES:
        for stat in STATS:
            row = [cls, stat, _fmt(stat, REAL[cls][stat])]
            for name in names:
                entry = report[name]
                if cls not in entry["percentiles"]:
                    row.append("-")
                    continue
                mark = "" if entry["covers"][cls][stat] else " ✗"
                row.append(_fmt(stat, entry["percentiles"][cls][stat]) + mark)
            rows.append(row)
    for share, value in REAL_SHARES.items():
        rows.append(["all", share, f"{value:.0%}", *[f"{report[name]['shares'][share]:.0%}" for name in names]])
    covered = [
        f"{name}: {sum(v for c in report[name]['covers'].values() for v in c.values())} of "
        f"{sum(len(c) for c in report[name]['covers'].values())} covered"
        for name in names
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    return "\n".join(lines) + "\n\n" + "; ".join(covered)


def _sample_sets(per_class: int, folder: Path) -> dict[str, Path]:
    """Fresh samples of the built-in renderer and the independent yardstick (seeds no demo uses)."""
    from edgecls.datasets.traffic_lights import write_dataset

    sets = {"built-in": folder / "built-in"}
    write_dataset(sets["built-in"], per_class=per_class, seed=41)
    try:
        import independent

        independent.write_crops(folder / "yardstick", per_class, independent.photographs(None), seed=42)
        sets["yardstick"] = folder / "yardstick"
    except SystemExit as error:  # no photographs without the [bench] extra
        print(f"yardstick left out: {error}", file=sys.stderr)
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="*", metavar="NAME=FOLDER")
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.sets:
            folders = {}
            for spec in args.sets:
                name, _, folder = spec.partition("=")
                if not folder or not Path(folder).is_dir():
                    sys.exit(f"{spec!r}: give NAME=FOLDER, a folder with red/ yellow/ green/ inside")
                folders[name] = Path(folder)
        else:
            folders = _sample_sets(args.per_class, Path(scratch))
        report = summarise({name: folder_stats(folder) for name, folder in folders.items()})
    print(table(report, args.markdown))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
