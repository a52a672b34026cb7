"""Peak memory of `edgecls train` as the dataset grows: the same one-epoch run on generated image
folders of different sizes, each in its own process, its peak resident memory read from the kernel.

    python benchmarks/train_memory.py WORK_DIR [--counts 6000 60000] [--size 224] [--json OUT]

Each folder holds four classes of generated JPEGs (a coloured shape on a noisy background, 256 px,
resized to `--size` by the pre-scan); they are written once and reused. The run fine-tunes the last
layers of MobileNetV3Small (a local weights file made here, random init: ImageNet weights would change
nothing about memory) for one epoch, validation 10%.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("circle", "square", "triangle", "cross")


def write_images(folder: Path, count: int, side: int = 256) -> Path:
    """`count` JPEGs over four class folders (skipped when the folder already has them)."""
    marker = folder / f".complete-{count}"
    if marker.exists():
        return folder
    rng = np.random.default_rng(count)
    for index in range(count):
        name = CLASSES[index % len(CLASSES)]
        image = rng.integers(0, 120, (side, side, 3), dtype=np.uint8)
        color = tuple(int(c) for c in rng.integers(80, 256, 3))
        center, radius = tuple(int(c) for c in rng.integers(70, side - 70, 2)), int(rng.integers(25, 60))
        if name == "circle":
            cv2.circle(image, center, radius, color, -1)
        elif name == "square":
            cv2.rectangle(image, (center[0] - radius, center[1] - radius), (center[0] + radius, center[1] + radius), color, -1)
        elif name == "triangle":
            points = np.array([[center[0], center[1] - radius], [center[0] - radius, center[1] + radius],
                               [center[0] + radius, center[1] + radius]], np.int32)
            cv2.fillPoly(image, [points], color)
        else:
            cv2.line(image, (center[0] - radius, center[1]), (center[0] + radius, center[1]), color, 12)
            cv2.line(image, (center[0], center[1] - radius), (center[0], center[1] + radius), color, 12)
        (folder / name).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / name / f"{index:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    marker.write_text("")
    return folder


def weights_file(path: Path, size: int) -> Path:
    """MobileNetV3Small without its top at `size` px, random init, saved (stands in for ImageNet's)."""
    if not path.exists():
        code = (
            "import keras; keras.utils.set_random_seed(0)\n"
            f"keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=({size}, {size}, 3), "
            f"pooling='avg', include_preprocessing=True).save_weights({str(path)!r})\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return path


def measure(data: Path, weights: Path, out: Path, size: int, extra: list[str]) -> dict:
    """One training run in a child process: its peak resident memory (ru_maxrss) and wall time."""
    command = [
        sys.executable, "-m", "edgecls.cli", "train", "--data", str(data), "--backbone", "mobilenetv3small",
        "--weights", str(weights), "--mode", "finetune", "--fine-tune-epochs", "1", "--image-size", str(size),
        "--val-split", "0.1", "--batch-size", "32", "--out", str(out), *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    stderr = child.stderr.read() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training failed on {data}:\n{stderr[-2000:]}")
    return {"peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--counts", type=int, nargs="+", default=[6000, 60000])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--no-image-cache", action="store_true", help="decode the files every epoch")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    weights = weights_file(args.work / f"mobilenetv3small-{args.size}.weights.h5", args.size)
    extra = ["--no-image-cache"] if args.no_image_cache else []
    records = []
    for count in args.counts:
        started = time.perf_counter()
        data = write_images(args.work / f"images-{count}", count)
        print(f"{count} images ready in {time.perf_counter() - started:.0f}s", flush=True)
        out = args.work / f"run-{count}-{int(time.time())}"
        record = {"images": count, "size": args.size, "image_cache": not args.no_image_cache,
                  **measure(data, weights, out, args.size, extra)}  # fmt: skip
        records.append(record)
        print(json.dumps(record), flush=True)
    smallest, largest = records[0]["peak_rss_mib"], records[-1]["peak_rss_mib"]
    print(f"peak RSS {smallest} MiB -> {largest} MiB ({(largest / smallest - 1) * 100:+.1f}%)")
    if args.json:
        from edgecls.bench import environment

        args.json.write_text(json.dumps({"environment": environment(), "runs": records}, indent=2) + "\n")


if __name__ == "__main__":
    main()
