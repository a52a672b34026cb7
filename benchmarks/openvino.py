"""onnxruntime's CPU provider against its OpenVINO provider, on the same files and the same machine.

    python benchmarks/openvino.py --openvino-python OV_VENV/bin/python [--demo RUN] [--seconds 5] [--json OUT]

The OpenVINO provider comes in another wheel (onnxruntime-openvino), which cannot share an
environment with onnxruntime(-gpu): OV_VENV is a second virtual environment made as the README's
OpenVINO install says. This script (run from the development environment, which has TensorFlow)
exports MobileNetV3Small and VGG16 at 224 px (weights none: speed does not depend on the weights) to
FP32 and INT8, takes the demo's FP32 and INT8 models from `--demo` (a `make demo` run folder), then
runs `edgecls bench` on every file at batch 1 and 8 twice: here with `--provider cpu`, and in OV_VENV
with `--provider openvino`. Prints one row per model, precision and batch: p50 latency and
images a second of each, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def bench(python: str, provider: str, files: list[Path], seconds: float, out: Path) -> list[dict]:
    command = [python, "-m", "edgecls.cli", "bench", *map(str, files), "--provider", provider]
    command += ["--batch", "1,8", "--seconds", str(seconds), "--json", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["records"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openvino-python", required=True)
    parser.add_argument("--demo", type=Path, default=Path("demo-out/run"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from run import build_exports

    with tempfile.TemporaryDirectory(prefix="edgecls-openvino-") as folder:
        work = Path(folder)
        exports = build_exports(work, ["mobilenetv3small", "vgg16"])
        files = {"demo (compactcnn, 64 px)": {"fp32": args.demo / "model.onnx", "int8": args.demo / "model.int8.onnx"}}
        files.update({f"{name} (224 px)": {key: found[key] for key in ("fp32", "int8")} for name, found in exports.items()})
        ordered = [(model, precision, path) for model, paths in files.items() for precision, path in paths.items()]
        cpu = bench(sys.executable, "cpu", [path for *_, path in ordered], args.seconds, work / "cpu.json")
        openvino = bench(args.openvino_python, "openvino", [path for *_, path in ordered], args.seconds, work / "ov.json")
    rows = []
    for model, precision, path in ordered:
        for batch in (1, 8):
            mine = [r for r in cpu if Path(r["model"]).name == path.name and r["batch"] == batch and str(path.parent) in r["model"]]
            theirs = [r for r in openvino if Path(r["model"]).name == path.name and r["batch"] == batch and str(path.parent) in r["model"]]
            a, b = mine[0], theirs[0]
            rows.append(
                {
                    "model": model,
                    "precision": precision,
                    "batch": batch,
                    "cpu_p50_ms": a["p50_ms"],
                    "openvino_p50_ms": b["p50_ms"],
                    "cpu_images_per_s": a["images_per_s"],
                    "openvino_images_per_s": b["images_per_s"],
                }
            )
    print(f"{'model':<26}{'precision':>10}{'batch':>6}{'CPU p50 ms':>12}{'OpenVINO p50 ms':>17}{'CPU img/s':>11}{'OV img/s':>10}{'OV / CPU':>10}")
    for row in rows:
        print(
            f"{row['model']:<26}{row['precision']:>10}{row['batch']:>6}{row['cpu_p50_ms']:>12.2f}{row['openvino_p50_ms']:>17.2f}"
            f"{row['cpu_images_per_s']:>11.0f}{row['openvino_images_per_s']:>10.0f}"
            f"{row['openvino_images_per_s'] / row['cpu_images_per_s']:>9.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
