"""Keras -> ONNX with tf2onnx, and the FP16 variant of the FP32 graph (INT8 is in `int8`).

Every function returns an `onnx.ModelProto`; writing and checking happen in `export`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
# onnxruntime 1.18+ reads IR version 10; newer onnx packages stamp newer ones by default.
MAX_IR_VERSION = 10


def keras_to_onnx(model, image_size: tuple[int, int], opset: int, fuse_activations: bool = True):
    """Convert a uint8-input Keras classifier to ONNX: input `image` [batch, H, W, 3] uint8, output
    `probabilities` [batch, classes] float32, batch dynamic; hard sigmoids fused (`fuse_hard_sigmoid`)
    unless `fuse_activations` is off."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec((None, image_size[0], image_size[1], 3), tf.uint8, name=INPUT_NAME),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
    _rename_output(proto, OUTPUT_NAME)
    if fuse_activations:
        fuse_hard_sigmoid(proto)
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    proto.producer_name = "edgecls (tf2onnx)"
    onnx.checker.check_model(proto)
    return proto


def fuse_hard_sigmoid(proto) -> int:
    """Replace each `Mul(Clip(Add(x, 3), 0, 6), 1/6)` (Keras' hard sigmoid, inside MobileNetV3's hard
    swish, as tf2onnx writes it) by one `HardSigmoid(x, alpha=1/6, beta=0.5)`, in place: the same
    function, and onnxruntime fuses it into the convolution before it (MobileNetV3Small's FP32 export
    runs about 1.6x faster at batch 1). Returns how many were replaced."""
    from onnx import helper, numpy_helper

    graph = proto.graph
    # Only scalars can be the chain's constants: the weights (VGG16's 550 MB) are never copied out.
    tensors = [(item.name, item) for item in graph.initializer]
    tensors += [(node.output[0], node.attribute[0].t) for node in graph.node if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value"]
    constants = {name: numpy_helper.to_array(tensor) for name, tensor in tensors if math.prod(tensor.dims) == 1}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def is_scalar(name: str, value: float) -> bool:
        array = constants.get(name)
        return array is not None and array.size == 1 and abs(float(array.reshape(-1)[0]) - value) < 1e-6

    def only_consumer(node, op_type: str):
        following = consumers.get(node.output[0], [])
        return following[0] if len(following) == 1 and following[0].op_type == op_type else None

    replaced: dict[int, Any] = {}  # id of the chain's last node -> its replacement
    removed: set[int] = set()
    for add in graph.node:
        if add.op_type != "Add" or sum(is_scalar(name, 3.0) for name in add.input) != 1 or len(add.input) != 2:
            continue
        clip = only_consumer(add, "Clip")
        if clip is None or len(clip.input) != 3 or not (is_scalar(clip.input[1], 0.0) and is_scalar(clip.input[2], 6.0)):
            continue
        scale = only_consumer(clip, "Mul")
        if scale is None or not any(is_scalar(name, 1 / 6) for name in scale.input if name != clip.output[0]):
            continue
        source = next(name for name in add.input if not is_scalar(name, 3.0))
        fused = helper.make_node("HardSigmoid", [source], [scale.output[0]], name=f"{scale.name}/hard_sigmoid", alpha=1 / 6, beta=0.5)
        removed.update((id(add), id(clip)))
        replaced[id(scale)] = fused
    nodes = [replaced.get(id(node), node) for node in graph.node if id(node) not in removed]
    used = {name for node in nodes for name in node.input} | {output.name for output in graph.output}
    nodes = [node for node in nodes if node.op_type != "Constant" or node.output[0] in used]
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [item for item in graph.initializer if item.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return len(replaced)


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
