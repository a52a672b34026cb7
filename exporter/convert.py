"""Keras -> ONNX with tf2onnx, then FP16 and INT8 variants of the FP32 graph.

Every function returns an `onnx.ModelProto`; writing and checking happen in `export`.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgecls.core.progress import track

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
# onnxruntime 1.18+ reads IR version 10; newer onnx packages stamp newer ones by default.
MAX_IR_VERSION = 10


def keras_to_onnx(model, image_size: tuple[int, int], opset: int):
    """Convert a uint8-input Keras classifier to ONNX: input `image` [batch, H, W, 3] uint8, output
    `probabilities` [batch, classes] float32, batch dynamic."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec((None, image_size[0], image_size[1], 3), tf.uint8, name=INPUT_NAME),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
    _rename_output(proto, OUTPUT_NAME)
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    proto.producer_name = "edgecls (tf2onnx)"
    onnx.checker.check_model(proto)
    return proto


def _rename_output(proto, name: str) -> None:
    old = proto.graph.output[0].name
    if old == name:
        return
    for node in proto.graph.node:
        node.output[:] = [name if value == old else value for value in node.output]
        node.input[:] = [name if value == old else value for value in node.input]
    proto.graph.output[0].name = name


def to_float16(proto):
    """Weights and activations in float16; the uint8 input and float32 output stay as they are.

    The input's Cast (uint8 -> float) is kept in float32 and followed by a cast to float16, and
    onnxconverter-common's default block list keeps ops without a float16 kernel in float32.
    """
    from onnxconverter_common import float16

    input_casts = [node.name for node in proto.graph.node if node.op_type == "Cast" and INPUT_NAME in node.input]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one line per tiny weight clamped to float16's range
        converted = float16.convert_float_to_float16(proto, keep_io_types=True, node_block_list=input_casts)
    converted.ir_version = min(converted.ir_version, MAX_IR_VERSION)
    return converted


class _Calibration:
    """onnxruntime's CalibrationDataReader over batches of uint8 images, with progress."""

    def __init__(self, batches: Iterator[np.ndarray], total: int) -> None:
        self._batches = batches
        self._progress = track(total, "calibrating INT8")

    def get_next(self):
        batch = next(self._batches, None)
        if batch is None:
            self._progress.close()
            return None
        self._progress.update(len(batch))
        return {INPUT_NAME: batch}

    def rewind(self) -> None:  # onnxruntime's reader protocol; one pass is all calibration needs
        pass


def to_int8(proto, calibration_images, batch_size: int = 8):
    """Static QDQ quantization: int8 weights per channel, uint8 activations calibrated (min/max) on
    `calibration_images` (uint8 [N, H, W, 3]). Runs fastest on CPUs with VNNI (AVX512-VNNI / AVX-VNNI)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Calibration, CalibrationDataReader):
        pass

    batches = (calibration_images[i : i + batch_size] for i in range(0, len(calibration_images), batch_size))
    with tempfile.TemporaryDirectory(prefix="edgecls-int8-") as folder:
        source, prepared, quantized = (Path(folder) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        onnx.save(proto, source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(quantized),
                Reader(batches, len(calibration_images)),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
        converted = onnx.load(quantized)
    converted.ir_version = min(converted.ir_version, MAX_IR_VERSION)
    return converted


def count_gflops(proto, image_size: tuple[int, int]) -> float:
    """Multiply-add work of one image through Conv, MatMul and Gemm (2 FLOPs per multiply-add), in GFLOP.

    Other ops are cheap next to these in the backbones edgecls supports; bench divides this by the
    measured time to show achieved GFLOP/s.
    """
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, image_size[0], image_size[1], 3), strict=True):
        dim.Clear()
        dim.dim_value = value
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for value_info in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        shape = [d.dim_value for d in value_info.type.tensor_type.shape.dim]
        if shape and all(shape):
            shapes[value_info.name] = shape
    for initializer in inferred.graph.initializer:
        shapes[initializer.name] = list(numpy_helper.to_array(initializer).shape)
    flops = 0
    for node in inferred.graph.node:
        output = shapes.get(node.output[0])
        if output is None:
            continue
        if node.op_type == "Conv" and node.input[1] in shapes:
            flops += 2 * int(np.prod(output)) * int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type in ("MatMul", "Gemm") and node.input[0] in shapes:
            transposed = any(a.name == "transA" and a.i for a in node.attribute)
            inner = shapes[node.input[0]][-2 if transposed else -1]
            flops += 2 * int(np.prod(output)) * inner
    return flops / 1e9
