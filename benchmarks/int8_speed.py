"""INT8 against FP32 at batch 1 for a depthwise network, and what onnxruntime's pre-processing and
QDQ placement choices do to it.

    python benchmarks/int8_speed.py [--backbone mobilenetv3small] [--runs 300] [--json OUT]

MobileNetV3Small at 224 px with edgecls' head (weights none: speed does not depend on the weights),
exported as `edgecls export` does, then quantized in several ways from the same calibration images
(64 rendered traffic lights). Each variant is timed on the CPU at batch 1 in rounds that take turns
with FP32 (so a machine's drift hits all of them alike); the figure is the median of every run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# name -> what differs from the recipe `edgecls export` writes (QDQ, per-channel int8 weights,
# asymmetric uint8 activations, MinMax, every supported op quantized, after pre-processing).
VARIANTS = {
    "export (QDQ, all ops)": {},
    "no pre-processing": {"preprocess": False},
    "per-tensor weights": {"per_channel": False},
    "only Conv/MatMul/Gemm quantized": {"op_types": ["Conv", "MatMul", "Gemm"]},
    "hard sigmoid and Mul kept float": {"op_types": ["Conv", "MatMul", "Gemm", "Add", "GlobalAveragePool", "ReduceMean"]},
    "depthwise Conv kept float": {"float_depthwise": True},
    "QOperator format": {"format": "QOperator"},
    "reduce_range": {"reduce_range": True},
    "int8 activations (S8S8)": {"activation": "int8"},
}


def fp32_model(backbone: str, size: int, path: Path, fuse_activations: bool = True):
    from edgecls.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras
    import onnx

    from edgecls.exporter.convert import keras_to_onnx
    from edgecls.trainer.backbones import build_backbone
    from edgecls.trainer.finetune import assemble_model
    from edgecls.trainer.head import build_head

    keras.utils.set_random_seed(0)
    base = build_backbone(backbone, "none", size)
    head = build_head(base.output_shape[-1], 4, (256,), 0.5, 0)
    model, _ = assemble_model(backbone, base, head, size, False)
    proto = keras_to_onnx(model, (size, size), 17, fuse_activations)
    onnx.save(proto, path)
    return proto


def calibration_images(size: int, count: int = 64) -> np.ndarray:
    from edgecls.datasets.traffic_lights import STATES, render_traffic_light

    rng = np.random.default_rng(11)
    return np.stack([render_traffic_light(rng, STATES[index % len(STATES)], size) for index in range(count)])


def quantize(source: Path, output: Path, images: np.ndarray, options: dict) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(images[i : i + 8] for i in range(0, len(images), 8))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"image": batch}

    prepared = output.with_suffix(".prepared.onnx")
    if options.get("preprocess", True):
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    else:
        prepared.write_bytes(source.read_bytes())
    excluded = []
    if options.get("float_depthwise"):
        for node in onnx.load(prepared).graph.node:
            group = next((attribute.i for attribute in node.attribute if attribute.name == "group"), 1)
            if node.op_type == "Conv" and group > 1:
                excluded.append(node.name)
    activation = QuantType.QInt8 if options.get("activation") == "int8" else QuantType.QUInt8
    quantize_static(
        str(prepared),
        str(output),
        Reader(),
        quant_format=QuantFormat.QOperator if options.get("format") == "QOperator" else QuantFormat.QDQ,
        per_channel=options.get("per_channel", True),
        reduce_range=options.get("reduce_range", False),
        activation_type=activation,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=options.get("op_types"),
        nodes_to_exclude=excluded,
        extra_options={"ActivationSymmetric": activation == QuantType.QInt8, "WeightSymmetric": True},
    )


def session(path: Path, threads: int = 0):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def timed(sessions: dict, image: np.ndarray, runs: int, rounds: int = 10) -> dict[str, float]:
    """Median ms per batch-1 run of each session, in `rounds` that take turns."""
    from edgecls.runtime.bench import BenchSettings, time_calls

    times: dict[str, list[float]] = {name: [] for name in sessions}
    for round_number in range(rounds):
        settings = BenchSettings(warmup=10 if round_number == 0 else 0, iterations=runs // rounds)
        for name, current in sessions.items():
            times[name] += time_calls(lambda current=current: current.run(None, {"image": image}), settings)
    return {name: 1000 * float(np.median(values)) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="mobilenetv3small")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    from edgecls.bench import environment

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        paths = {"fp32, tf2onnx's graph": root / "tf2onnx.onnx", "fp32": root / "fp32.onnx"}
        fp32_model(args.backbone, args.size, paths["fp32, tf2onnx's graph"], fuse_activations=False)
        fp32_model(args.backbone, args.size, paths["fp32"])
        images = calibration_images(args.size)
        for index, (name, options) in enumerate(VARIANTS.items()):
            paths[f"int8: {name}"] = root / f"int8-{index}.onnx"
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                quantize(paths["fp32"], paths[f"int8: {name}"], images, options)
        tables = {}
        for threads in (0, 1):  # onnxruntime's default (one per core), and one thread
            chosen = paths if threads == 0 else {name: paths[name] for name in list(paths)[:3]}
            sessions = {name: session(path, threads) for name, path in chosen.items()}
            outputs = {name: current.run(None, {"image": images[:32]})[0] for name, current in sessions.items()}
            tables[threads] = (timed(sessions, images[:1], args.runs), outputs)
    rows = []
    for threads, (latency, outputs) in tables.items():
        for name, milliseconds in latency.items():
            agreement = float((outputs[name].argmax(1) == outputs["fp32"].argmax(1)).mean())
            speedup = latency["fp32"] / milliseconds
            rows.append({"variant": name, "threads": threads or "default", "ms": round(milliseconds, 3), "vs_fp32": round(speedup, 2),
                         "vs_tf2onnx_fp32": round(latency["fp32, tf2onnx's graph"] / milliseconds, 2), "agreement_32": agreement})  # fmt: skip
            print(f"{threads or 'default':>7} {name:45s} {milliseconds:7.3f} ms  {speedup:5.2f}x vs fp32")
    record = {"environment": environment(), "backbone": args.backbone, "size": args.size, "runs": args.runs, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
