"""Many cameras into one serve-camera: per-stream frame rate, read-to-state latency and memory.

    python benchmarks/cameras.py MODEL.onnx CLIP.avi [--cameras 1,4,8,12] [--seconds 30] [--fps 30]

For each camera count N, N simulated cameras on loopback (MJPEG over HTTP, each playing CLIP at
`--fps`, frames encoded once beforehand so the cameras cost little) feed one `edgecls serve-camera
--config` process, two lights per camera (the clip's ROI from its truth file, and a second region
beside it). After `--seconds` it is stopped with SIGTERM; its summary gives each camera's processed
frame rate over the time connected, its per-frame JSON Lines give the latency from the frame's read
to its classified state (p50/p99 over every light), and /proc gives the process's memory (RSS)
sampled every second. Prints one row per N and writes them as JSON with `--json`.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgecls.datasets.clips import ClipTruth, truth_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the loopback camera the tests use
from helpers.loopback import Camera, encoded_frames  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(
    model: Path, frames: list[bytes], roi: list[int], count: int, seconds: float, fps: float, classify_fps: float = 0.0
) -> dict:
    cameras = [Camera(frames, fps, max_clients=4) for _ in range(count)]
    x, y, w, h = roi
    beside = [max(0, x - w), y, w, h] if x >= w else [x + w, y, w, h]
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "cameras.toml"
        config.write_text(
            "\n".join(
                f'[[camera]]\nname = "cam{index}"\nsource = "{camera.url}"\n'
                f'[[camera.light]]\nname = "cam{index}-main"\nroi = {roi}\n'
                f'[[camera.light]]\nname = "cam{index}-second"\nroi = {beside}\n'
                for index, camera in enumerate(cameras)
            )
        )
        out, summary_path = Path(folder) / "frames.jsonl", Path(folder) / "summary.json"
        command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(model), "--config", str(config)]
        command += ["--jsonl", str(out), "--summary-json", str(summary_path), "--classify-fps", f"{classify_fps:g}"]
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        memory = []
        started = time.perf_counter()
        while time.perf_counter() - started < seconds and process.poll() is None:
            time.sleep(1.0)
            memory.append(rss_mib(process.pid))
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        for camera in cameras:
            camera.close()
        summary = json.loads(summary_path.read_text())
        latencies = [  # past the first 5 s of the loop: connecting, the session's first runs
            record["latency_ms"] for record in map(json.loads, out.read_text().splitlines()) if record["time"] > 5.0
        ]
    rates = [camera["fps"] for camera in summary["cameras"]]
    return {
        "cameras": count,
        "lights": 2 * count,
        "camera_fps": fps,
        "min_fps": round(min(rates), 1),
        "mean_fps": round(float(np.mean(rates)), 1),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 1),
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 1),
        "dropped": summary["dropped"],
        "frames_read": summary["frames_read"],
        "rss_mib_first": round(memory[min(4, len(memory) - 1)], 1),
        "rss_mib_last": round(memory[-1], 1),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--cameras", default="1,4,8,12")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--classify-fps", type=float, default=0.0, help="serve-camera's rate; 0 (this table): every frame")
    args = parser.parse_args()
    frames = encoded_frames(args.clip, limit=300, quality=85)
    roi = list(ClipTruth.read(args.clip).roi) if truth_path(args.clip).exists() else [0, 0, 160, 160]
    rows = []
    print("cameras lights | fps min  mean | latency p50  p99 ms | dropped | RSS MiB at 5 s -> end")
    for count in (int(part) for part in args.cameras.split(",")):
        row = run(args.model, frames, roi, count, args.seconds, args.fps, args.classify_fps)
        rows.append(row)
        print(
            f"{row['cameras']:7d} {row['lights']:6d} | {row['min_fps']:7.1f} {row['mean_fps']:5.1f} | "
            f"{row['latency_ms_p50']:11.1f} {row['latency_ms_p99']:4.1f} | {row['dropped']:7d} | "
            f"{row['rss_mib_first']:.0f} -> {row['rss_mib_last']:.0f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
