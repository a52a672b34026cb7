"""Tiny ONNX graphs that carry edgecls' model contract, built with onnx.helper (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgecls.runtime.contract import build_metadata

# onnxruntime reads IR versions up to 10 here; onnx.helper would otherwise stamp its newest.
IR_VERSION = 9


def color_classifier(
    path: Path,
    classes: tuple[str, ...] = ("red", "green", "blue"),
    size: tuple[int, int] = (32, 32),
    metadata: dict[str, str] | None = None,
    output_width: int | None = None,
    static_size: bool = True,
    softmax: bool = True,
) -> Path:
    """A model that labels an image by its dominant channel: mean over H, W -> scale -> softmax.

    `classes` beyond three reuse channels; `output_width` makes the graph disagree with the
    metadata; `metadata` replaces the contract's metadata entirely when given; without `softmax` the
    output is the logits (scores that are not probabilities).
    """
    width = output_width or len(classes)
    weights = np.zeros((3, width), dtype=np.float32)
    for column in range(width):
        weights[column % 3, column] = 0.2
    height_dim, width_dim = size if static_size else ("H", "W")
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", height_dim, width_dim, 3])
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", width])
    nodes = [
        helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["pixels"], ["means"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["means", "weights"], ["logits" if softmax else "probabilities"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1))
    initializers = [
        numpy_helper.from_array(weights, "weights"),
    ]
    graph = helper.make_graph(nodes, "color_classifier", [image], [probabilities], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = IR_VERSION
    if metadata is None:
        metadata = build_metadata(classes, size, backbone="test", precision="fp32", val_accuracy=1.0, created="now")
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
