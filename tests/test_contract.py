from __future__ import annotations

import numpy as np
import pytest

from edgecls.core.errors import ModelContractError, ProviderError
from edgecls.runtime import build_metadata, load_classifier
from edgecls.runtime.providers import cuda_unavailable_reason

from onnx_models import color_classifier


def test_load_reads_metadata_and_predicts(color_model):
    classifier = load_classifier(color_model, "cpu")
    assert classifier.info.classes == ("red", "green", "blue")
    assert classifier.info.input_size == (32, 32)
    assert classifier.info.precision == "fp32"
    assert classifier.provider == "cpu"
    assert classifier.session.get_providers() == ["CPUExecutionProvider"]
    images = np.zeros((2, 32, 32, 3), np.uint8)
    images[0, ..., 1] = 255
    images[1, ..., 2] = 255
    probabilities = classifier.predict(images)
    assert probabilities.shape == (2, 3) and probabilities.dtype == np.float32
    assert probabilities.argmax(axis=1).tolist() == [1, 2]


def test_model_without_metadata_is_refused(tmp_path):
    path = color_classifier(tmp_path / "bare.onnx", metadata={})
    with pytest.raises(ModelContractError, match="metadata is missing edgecls.contract, classes.*edgecls export"):
        load_classifier(path, "cpu")


def test_class_names_that_do_not_match_output_width_are_refused(tmp_path):
    metadata = build_metadata(["a", "b", "c"], (32, 32), "test", "fp32", None, "now")
    path = color_classifier(tmp_path / "wrong.onnx", metadata=metadata, output_width=4)
    with pytest.raises(ModelContractError, match="lists 3 names but output 'probabilities' is 4 wide"):
        load_classifier(path, "cpu")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("classes", "[not json", "'classes' is not valid JSON"),
        ("classes", '["a", "a", "b"]', "distinct, non-empty, printable names"),
        ("input_size", "[0, 32]", "'input_size' must be"),
        ("input_size", "[64, 64]", "says height 64 but input 'image' has height 32"),
        ("precision", "fp8", "'precision' is 'fp8'"),
        ("color_order", "BGR", "'color_order' is 'BGR'"),
        ("edgecls.contract", "99", "contract '1'"),
        ("output", "scores", "'output' is 'scores'; expected one of probabilities, logits"),
    ],
)
def test_each_bad_metadata_value_is_named(tmp_path, key, value, message):
    metadata = build_metadata(["a", "b", "c"], (32, 32), "test", "fp32", None, "now")
    metadata[key] = value
    path = color_classifier(tmp_path / "bad.onnx", metadata=metadata)
    with pytest.raises(ModelContractError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_classifier(path, "cpu")


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"definitely not protobuf")
    with pytest.raises(ModelContractError, match="cannot load this file as an ONNX model"):
        load_classifier(path, "cpu")
    with pytest.raises(ModelContractError, match="model file not found"):
        load_classifier(tmp_path / "missing.onnx", "cpu")


def test_dynamic_spatial_input_is_accepted(tmp_path):
    path = color_classifier(tmp_path / "dynamic.onnx", static_size=False)
    assert load_classifier(path, "cpu").info.input_size == (32, 32)


@pytest.mark.skipif(cuda_unavailable_reason() is None, reason="CUDA is usable on this machine")
def test_cuda_without_cuda_is_an_error_and_auto_says_cpu(color_model):
    with pytest.raises(ProviderError, match="`provider` cuda was asked for, but CUDA cannot be used here: .+To fix"):
        load_classifier(color_model, "cuda")
    classifier = load_classifier(color_model, "auto")
    assert classifier.provider == "cpu"
    assert classifier.provider_note.startswith("running on CPU (CUDA not available:")


@pytest.mark.gpu
@pytest.mark.skipif(cuda_unavailable_reason() is not None, reason="needs a usable CUDA device")
def test_cuda_runs_and_is_read_back(color_model):
    classifier = load_classifier(color_model, "cuda")
    assert classifier.provider == "cuda"
    assert "CUDAExecutionProvider" in classifier.session.get_providers()


def test_openvino_asked_for_without_its_wheel_names_the_install_and_two_wheels_are_refused(color_model, monkeypatch):
    import onnxruntime

    from edgecls.runtime import providers

    if "OpenVINOExecutionProvider" in onnxruntime.get_available_providers():  # the OpenVINO install: it runs
        assert load_classifier(color_model, "openvino").provider == "openvino"
        assert load_classifier(color_model, "auto").provider in ("cuda", "openvino")
    else:
        with pytest.raises(ProviderError, match="no OpenVINO provider. To fix: pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-openvino"):
            load_classifier(color_model, "openvino")
        assert load_classifier(color_model, "auto").provider in ("cuda", "cpu")  # never a silent OpenVINO
    assert len(providers.onnxruntime_wheels()) == 1
    monkeypatch.setattr(providers, "onnxruntime_wheels", lambda: ["onnxruntime-gpu", "onnxruntime-openvino"])
    with pytest.raises(ProviderError, match="installed together.*pip uninstall -y onnxruntime-gpu onnxruntime-openvino && pip install onnxruntime-openvino"):
        load_classifier(color_model, "cpu")


def test_a_keras_file_is_refused_naming_the_onnx_file(tmp_path):
    keras_file = tmp_path / "run" / "model.keras"
    keras_file.parent.mkdir()
    keras_file.write_bytes(b"PK\x03\x04")
    with pytest.raises(ModelContractError, match=r"a Keras model; .* `edgecls export .*run` writes it"):
        load_classifier(keras_file, "cpu")
    color_classifier(tmp_path / "run" / "model.onnx")
    with pytest.raises(ModelContractError, match=r"model.onnx is there"):
        load_classifier(keras_file, "cpu")


def test_a_model_of_one_class_is_refused(tmp_path):
    metadata = build_metadata(["only"], (32, 32), "test", "fp32", None, "now")
    with pytest.raises(ModelContractError, match="two or more distinct"):
        load_classifier(color_classifier(tmp_path / "one.onnx", classes=("only",), metadata=metadata), "cpu")


def test_logits_are_refused_unless_declared_and_then_made_probabilities(tmp_path, color_model):
    from typer.testing import CliRunner

    from edgecls.cli import app

    images = np.zeros((3, 32, 32, 3), np.uint8)
    for index in range(3):
        images[index, ..., index] = 255
    undeclared = load_classifier(color_classifier(tmp_path / "logits.onnx", softmax=False), "cpu")
    with pytest.raises(ModelContractError, match='not a probability vector.*"output": "logits"'):
        undeclared.predict(images)
    picture = tmp_path / "green.png"
    import cv2

    cv2.imwrite(str(picture), np.full((32, 32, 3), (0, 255, 0), np.uint8))
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "logits.onnx"), str(picture)])
    assert result.exit_code == 2 and "not a probability vector" in result.output and "Traceback" not in result.output
    metadata = build_metadata(["red", "green", "blue"], (32, 32), "test", "fp32", None, "now", {"output": "logits"})
    declared = load_classifier(color_classifier(tmp_path / "declared.onnx", softmax=False, metadata=metadata), "cpu")
    expected = load_classifier(color_model, "cpu").predict(images)
    assert np.allclose(declared.predict(images), expected, atol=1e-6)


def test_a_huge_metadata_value_is_not_echoed(tmp_path):
    metadata = build_metadata(["a", "b", "c"], (32, 32), "test", "fp32", None, "now")
    metadata["precision"] = "x" * 5_000_000
    path = color_classifier(tmp_path / "huge.onnx", metadata=metadata)
    with pytest.raises(ModelContractError) as error:
        load_classifier(path, "cpu")
    assert len(str(error.value)) < 600 and "xxx..." in str(error.value)
