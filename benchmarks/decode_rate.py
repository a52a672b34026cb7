"""What serve-camera's loop costs on one MJPEG camera, by how much it decodes and classifies.

    python benchmarks/decode_rate.py MODEL.onnx [--seconds 10] [--fps 30]

A 640x480 camera on loopback sends a textured JPEG `--fps` times a second; one light (a 200x200 ROI)
is classified in-process for `--seconds` per setting: every frame decoded at full size (what
serve-camera did before), every frame decoded at the reduced scale the light needs, and 5 a second
(`--classify-fps 5`) at that scale. Prints frames received and classified a second, and the
process's CPU time per second of run (camera server included, the same in every setting).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the loopback camera the tests use

from helpers.loopback import MultipartCamera, part  # noqa: E402

from edgecls.runtime import load_classifier  # noqa: E402
from edgecls.runtime.cameras import CameraSpec, LightSpec  # noqa: E402
from edgecls.runtime.live import LiveConfig, loop, run_cameras  # noqa: E402
from edgecls.runtime.sources import parse_source  # noqa: E402
from edgecls.runtime.streams import FrameSource  # noqa: E402


def picture() -> bytes:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), np.uint8), (9, 9), 0)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def run(model: Path, seconds: float, fps: float, classify_fps: float | None, reduced: bool) -> dict:
    body = picture()
    camera = MultipartCamera(lambda number: part(body, len(body)), period_s=1 / fps, count=10**7)
    source = FrameSource(parse_source(camera.url), open_timeout_s=2, read_timeout_s=2, classify_fps=classify_fps).start()
    spec = CameraSpec("cam0", camera.url, (LightSpec("light", (220, 140, 200, 200)),))
    chosen = loop._decode_scale
    if not reduced:
        loop._decode_scale = lambda *args: 1  # type: ignore[assignment]
    classifier = load_classifier(model, "cpu")
    time.sleep(0.5)
    with tempfile.TemporaryDirectory() as folder:
        frames_out = Path(folder) / "frames.jsonl"
        cpu, wall, before = time.process_time(), time.perf_counter(), source.stats.frames_read
        stop = threading.Event()
        threading.Timer(seconds, stop.set).start()
        summary = run_cameras(classifier, [(spec, source)], LiveConfig(smooth=3, jsonl=frames_out), stop)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    loop._decode_scale = chosen
    camera.close()
    return {
        "received_per_s": (summary.frames_read - before) / wall,
        "classified_per_s": summary.processed / wall,
        "not_decoded": summary.not_decoded,
        "cpu_per_s": cpu / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    print(f"{'setting':<38}{'received/s':>11}{'classified/s':>13}{'CPU s per s':>13}")
    for name, rate, reduced in (
        ("every frame, full-size decode", None, False),
        ("every frame, reduced decode", None, True),
        ("--classify-fps 5, reduced decode", 5.0, True),
    ):
        row = run(args.model, args.seconds, args.fps, rate, reduced)
        print(f"{name:<38}{row['received_per_s']:>11.1f}{row['classified_per_s']:>13.1f}{row['cpu_per_s']:>13.3f}")


if __name__ == "__main__":
    main()
