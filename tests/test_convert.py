"""The FP32 graph's clean-up after tf2onnx: hard sigmoids fused into one op, nothing else changed."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def hard_swish_graph(scale: float = 1 / 6) -> onnx.ModelProto:
    """y = x * (Clip(x + 3, 0, 6) * scale): Keras' hard swish as tf2onnx writes it (scale 1/6), and
    one more Add of 3 elsewhere that must stay."""
    constants = {"three": 3.0, "zero": 0.0, "six": 6.0, "scale": scale}
    initializers = [numpy_helper.from_array(np.array(value, np.float32), name) for name, value in constants.items()]
    nodes = [
        helper.make_node("Add", ["x", "three"], ["shifted"]),
        helper.make_node("Clip", ["shifted", "zero", "six"], ["clipped"]),
        helper.make_node("Mul", ["clipped", "scale"], ["gate"]),
        helper.make_node("Mul", ["x", "gate"], ["swished"]),
        helper.make_node("Add", ["swished", "three"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "hard_swish", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], initializers,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


def run(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_hard_sigmoid_chains_become_one_op_with_the_same_outputs():
    from edgecls.exporter.convert import fuse_hard_sigmoid

    x = np.linspace(-8, 8, 16, dtype=np.float32).reshape(2, 8)
    proto = hard_swish_graph()
    expected = run(proto, x)
    assert fuse_hard_sigmoid(proto) == 1
    onnx.checker.check_model(proto)
    assert [node.op_type for node in proto.graph.node] == ["HardSigmoid", "Mul", "Add"]
    assert sorted(item.name for item in proto.graph.initializer) == ["three"]  # the Add of 3 that stays
    np.testing.assert_allclose(run(proto, x), expected, atol=1e-6)


def test_a_chain_with_another_scale_is_left_alone():
    from edgecls.exporter.convert import fuse_hard_sigmoid

    proto = hard_swish_graph(scale=0.2)
    assert fuse_hard_sigmoid(proto) == 0
    assert [node.op_type for node in proto.graph.node] == ["Add", "Clip", "Mul", "Mul", "Add"]
