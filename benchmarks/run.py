"""Reproduce the README's performance tables.

    python benchmarks/run.py [--seconds 5] [--frames 10000]

For VGG16 and MobileNetV3Small at 224 px (weights none: speed does not depend on the weights): a
short training run on generated traffic-light images, export to FP32, FP16 and INT8, then `bench`
of every export beside its Keras model at batch 1 and 8; then serve-camera throughput and memory
on a generated 640x480 clip. Writes benchmarks/results/<machine>.json, .md and .png.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine_name(env: dict) -> str:
    gpu = f"-{env['gpu']}" if env.get("gpu") else ""
    return re.sub(r"[^a-z0-9]+", "-", f"{env['cpu']}-{env['cores']}c{gpu}".lower()).strip("-")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build_exports(work: Path, backbones: list[str]) -> dict[str, dict[str, Path]]:
    from edgecls.datasets.traffic_lights import write_dataset
    from edgecls.exporter.export import ExportConfig, export
    from edgecls.trainer.config import TrainConfig
    from edgecls.trainer.run import train

    data = work / "data"
    write_dataset(data, per_class=16, seed=0, size=224)
    exports = {}
    for backbone in backbones:
        run = train(
            TrainConfig(
                data=str(data),
                backbone=backbone,
                weights="none",
                image_size=224,
                epochs=1,
                fine_tune_epochs=0,
                batch_size=8,
                augment=False,
                out=str(work / backbone),
            )
        )
        # Weights none: the gates only check that the files run; agreement is measured, not required.
        result = export(
            ExportConfig(
                source=str(run.run_dir),
                fp16=True,
                int8=True,
                calib_images=48,
                fp16_min_agreement=0.0,
                int8_min_agreement=0.0,
                max_recall_drop=100.0,
                fp32_max_abs_diff=1e-3,
            )
        )
        exports[backbone] = {"run": run.run_dir, **result.written}
    return exports


class LoopingCapture:
    """An OpenCV capture of `clip` that starts over at its end, for `frames` frames in all."""

    def __init__(self, clip: Path, frames: int, *args) -> None:
        import cv2

        self.capture = cv2.VideoCapture(str(clip))
        self.left = frames

    def isOpened(self):  # noqa: N802 - OpenCV's API
        return self.capture.isOpened()

    def get(self, prop):
        return self.capture.get(prop)

    def read(self):
        import cv2

        if self.left <= 0:
            return False, None
        ok, image = self.capture.read()
        if not ok:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self.capture.read()
        self.left -= 1
        return ok, image

    def release(self):
        self.capture.release()


def camera_throughput(model: Path, work: Path, frames: int) -> dict:
    """serve-camera's loop on a generated 640x480 clip, looped to `frames` frames: fps and memory."""
    from edgecls.datasets.traffic_lights import write_clip
    from edgecls.runtime.live import LiveConfig, run_live
    from edgecls.runtime.model import load_classifier
    from edgecls.runtime.sources import parse_source
    from edgecls.runtime.streams import FrameSource

    clip = work / "clip.avi"
    write_clip(clip, seconds=20, seed=3)

    classifier = load_classifier(model, "auto")
    looping = functools.partial(LoopingCapture, clip, frames)
    source = FrameSource(parse_source(str(clip)), capture_factory=looping).start()
    memory = []
    done = {"n": 0}
    original_get = source.get

    def counting_get(timeout_s=1.0):
        frame = original_get(timeout_s)
        if frame is not None:
            done["n"] += 1
            if done["n"] % 500 == 0:
                memory.append((done["n"], rss_mb()))
        return frame

    source.get = counting_get
    summary = run_live(classifier, source, LiveConfig(smooth=5))
    warm = [mb for n, mb in memory if n >= 1000]
    growth = (warm[-1] - warm[0]) / warm[0] * 100 if len(warm) >= 2 else None
    return {
        "model": str(model),
        "frames": summary.processed,
        "fps": round(summary.fps, 1),
        "latency_ms_p50": summary.to_dict()["latency_ms_p50"],
        "provider": summary.provider,
        "rss_mb_after_warmup": round(warm[0], 1) if warm else None,
        "rss_mb_end": round(warm[-1], 1) if warm else None,
        "rss_growth_percent": round(growth, 2) if growth is not None else None,
        "rss_samples": memory,
    }


def markdown(records: list[dict], camera: dict, env: dict) -> str:
    lines = [
        f"Machine: {env['cpu']}, {env['cores']} cores, GPU: {env['gpu'] or 'none'}; onnxruntime "
        f"{env['onnxruntime']}, TensorFlow {next((r.get('tensorflow') for r in records if r.get('tensorflow')), '?')}.",
        "",
        "| model | engine | precision | batch 1 p50 (ms) | speed-up vs Keras | batch 8 (images/s) | speed-up vs Keras | size (MB) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backbone in dict.fromkeys(r["backbone"] for r in records):
        rows = [r for r in records if r["backbone"] == backbone]
        keras = {r["batch"]: r for r in rows if r["engine"] == "keras"}
        for engine, precision in (
            ("keras", "fp32"),
            ("onnxruntime", "fp32"),
            ("onnxruntime", "fp16"),
            ("onnxruntime", "int8"),
        ):
            one = next(
                (r for r in rows if r["engine"] == engine and r["precision"] == precision and r["batch"] == 1), None
            )
            eight = next(
                (r for r in rows if r["engine"] == engine and r["precision"] == precision and r["batch"] == 8), None
            )
            if one is None or eight is None:
                continue
            lines.append(
                f"| {backbone} | {engine} | {precision} | {one['p50_ms']:.1f} | "
                f"{keras[1]['p50_ms'] / one['p50_ms']:.2f}x | {eight['images_per_s']:.1f} | "
                f"{eight['images_per_s'] / keras[8]['images_per_s']:.2f}x | {one['size_mb']:.1f} |"
            )
    for backbone in dict.fromkeys(r["backbone"] for r in records):
        rows = {
            (r["precision"], r["batch"]): r
            for r in records
            if r["backbone"] == backbone and r["engine"] == "onnxruntime"
        }
        if ("int8", 1) in rows and ("fp32", 1) in rows:
            lines.append("")
            lines.append(
                f"{backbone}: INT8 vs FP32 ONNX: {rows[('fp32', 1)]['p50_ms'] / rows[('int8', 1)]['p50_ms']:.2f}x "
                f"at batch 1, {rows[('int8', 8)]['images_per_s'] / rows[('fp32', 8)]['images_per_s']:.2f}x at batch 8."
            )
    lines += [
        "",
        f"serve-camera, {Path(camera['model']).name} (FP32, {camera['provider']}) on a 640x480 clip: "
        f"{camera['fps']:.1f} processed frames/s over {camera['frames']} frames, latency p50 "
        f"{camera['latency_ms_p50']:.1f} ms; memory {camera['rss_mb_after_warmup']} MB after warm-up, "
        f"{camera['rss_mb_end']} MB at the end ({camera['rss_growth_percent']:+.2f}%).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per model and batch")
    parser.add_argument("--frames", type=int, default=10_000, help="frames for the serve-camera run")
    parser.add_argument("--backbones", default="vgg16,mobilenetv3small")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()

    from edgecls.console import import_tensorflow_quietly, info

    import_tensorflow_quietly()
    from edgecls.bench import bench_document, environment, format_table, plot_bench, run_bench
    from edgecls.runtime.bench import BenchSettings

    started = time.perf_counter()
    settings = BenchSettings(batches=(1, 8), warmup=10, seconds=args.seconds)
    with tempfile.TemporaryDirectory(prefix="edgecls-bench-") as folder:
        work = Path(folder)
        exports = build_exports(work, args.backbones.split(","))
        records = []
        for backbone, files in exports.items():
            info(f"timing {backbone}: fp32, fp16, int8 and keras")
            onnx = [files[precision] for precision in ("fp32", "fp16", "int8")]
            records += run_bench(onnx, "auto", settings, keras=files["run"])
        small = exports.get("mobilenetv3small", next(iter(exports.values())))
        info(f"serve-camera throughput over {args.frames} frames")
        camera = camera_throughput(small["fp32"], work, args.frames)
        for record in records:
            record["model"] = f"{record['backbone']}/{Path(record['model']).name}"
            record["name"] = record["model"]
    env = environment()
    name = machine_name(env)
    args.out.mkdir(parents=True, exist_ok=True)
    document = bench_document(
        records, settings, env, serve_camera=camera, seconds=round(time.perf_counter() - started, 1)
    )
    (args.out / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    table = markdown(records, camera, env)
    (args.out / f"{name}.md").write_text(table)
    plot_bench(records, args.out / f"{name}.png", title=f"{env['cpu']} ({env['cores']} cores)")
    print(format_table(records))
    print()
    print(table)
    print(f"wrote {args.out / name}.json, .md and .png in {time.perf_counter() - started:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
