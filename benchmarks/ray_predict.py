"""`edgecls predict` on this machine against `predict --ray`, over a few thousand photographs' worth
of JPEGs, end to end as a user runs them.

    python benchmarks/ray_predict.py [--model demo-out/run/model.onnx] [--images 3000] [--json OUT]

Writes IMAGES synthetic 640x480 JPEGs (gradients, shapes and sensor noise: about the size and
decoding cost of a camera's photographs), exports MobileNetV3Small at 224 px (weights none: speed
does not depend on the weights) beside the given model, and runs for each model:

- `predict` (local: one process, decoding threads, one session),
- `predict --ray` alone (a private cluster started and stopped by the command),
- `predict --ray HOST:PORT` on a cluster started beforehand with `ray start --head` (2 CPUs: two
  actors, one a CPU, the default).

Each is timed from the command's start: start-up (until the first row reaches stdout), rows a
second after it (steady), and images a second over the whole run. The projection for more nodes is
arithmetic, not a measurement: one actor's steady rate (half the 2-actor run's) times the actors,
2 a node of 2 CPUs; it assumes storage and the driver keep up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))  # the loopback cluster the tests use


def write_images(folder: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, 640, dtype=np.float32)
    for index in range(count):
        image = np.empty((480, 640, 3), np.float32)
        for channel in range(3):
            image[..., channel] = ramp[None, :] * rng.uniform(0.2, 1) + rng.uniform(0, 80)
        for _ in range(6):
            x, y = rng.integers(0, 600), rng.integers(0, 440)
            color = tuple(float(value) for value in rng.integers(0, 255, 3))
            cv2.rectangle(image, (int(x), int(y)), (int(x + rng.integers(20, 200)), int(y + rng.integers(20, 200))), color, -1)
        image += rng.normal(0, 6, image.shape).astype(np.float32)
        cv2.imwrite(str(folder / f"{index:05d}.jpg"), np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])


def timed(command: list[str], count: int, environment: dict[str, str]) -> dict:
    """Run `command`, timestamping the rows on its stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    first = last = None
    rows = 0
    assert process.stdout is not None
    for _ in process.stdout:
        last = time.perf_counter()
        first = first or last
        rows += 1
    stderr = process.stderr.read() if process.stderr else ""
    if process.wait() != 0 or rows != count or first is None or last is None:
        raise SystemExit(f"{' '.join(command)} failed (exit {process.returncode}, {rows} rows of {count}):\n{stderr[-2000:]}")
    total = time.perf_counter() - started
    return {
        "startup_s": round(first - started, 2),
        "steady_images_per_s": round((rows - 1) / (last - first), 1) if last > first else None,
        "images_per_s": round(rows / total, 1),
        "total_s": round(total, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "demo-out/run/model.onnx")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from helpers.ray_cluster import RayCluster, ray_environment
    from run import build_exports

    from edgecls.bench import environment

    if not args.model.is_file():
        raise SystemExit(f"{args.model}: not found (make demo writes demo-out/run/model.onnx; or pass --model)")
    records = []
    with tempfile.TemporaryDirectory(prefix="edgecls-ray-") as folder:
        work = Path(folder)
        write_images(work / "images", args.images)
        models = {
            "demo (compactcnn, 64 px)": args.model,
            "MobileNetV3Small (224 px)": build_exports(work, ["mobilenetv3small"])["mobilenetv3small"]["fp32"],
        }
        cluster = RayCluster(cpus=2)
        try:
            for name, model in models.items():
                base = [sys.executable, "-m", "edgecls.cli", "predict", str(model), str(work / "images"), "--format", "csv"]
                runs = {
                    "predict (local)": base + ["--provider", "cpu"],
                    "--ray (private cluster)": base + ["--ray"],
                    "--ray HOST:PORT (2 actors)": base + ["--ray", cluster.address],
                }
                for run, command in runs.items():
                    record = {"model": name, "run": run, **timed(command, args.images + 1, ray_environment())}
                    records.append(record)
                    print(json.dumps(record), flush=True)
        finally:
            cluster.stop()
    per_actor = {r["model"]: r["steady_images_per_s"] / 2 for r in records if r["run"].endswith("(2 actors)")}
    projection = [
        {"model": model, "nodes": nodes, "actors": 2 * nodes, "images_per_s": round(rate * 2 * nodes)}
        for model, rate in per_actor.items()
        for nodes in (1, 2, 4, 8)
    ]
    document = {"environment": environment(), "images": args.images, "records": records, "projection": projection}
    print(json.dumps(projection))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
