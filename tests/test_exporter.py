"""Export a tiny trained run in all three precisions and check what the runtime sees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.core.errors import EdgeclsError, ParityError

from datasets import color_squares, tiny_scratch_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from edgecls.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    from edgecls.trainer.run import train

    root = tmp_path_factory.mktemp("export")
    previous = os.getcwd()
    os.chdir(root)  # trained with paths relative to this folder; every test exports from another one
    try:
        data = color_squares(Path("data"), per_class=30, size=40)
        train(tiny_scratch_config(data, Path("run")))
    finally:
        os.chdir(previous)
    return root / "run", root / "data"


def test_a_run_trained_with_relative_paths_reads_its_files_from_anywhere(trained_run):
    run, data = trained_run
    split = json.loads((run / "split.json").read_text())
    assert split["roots"] == {"train": str(data), "val": str(data)}
    assert all(not Path(path).is_absolute() and (data / path).is_file() for path, _ in split["train"] + split["val"])
    assert json.loads((run / "config.json").read_text())["data"] == str(data)  # resume from anywhere too


def test_export_all_precisions_through_the_runtime(trained_run, tmp_path):
    from edgecls.exporter.export import ExportConfig, export
    from edgecls.runtime import load_classifier

    run, _ = trained_run
    out = tmp_path / "out" / "colors.onnx"
    # A toy model on 18 validation images: one INT8 flip is 5.6%, so the gate is loosened here; the gate
    # itself is tested with a tampered model below.
    result = export(
        ExportConfig(source=str(run), out=str(out), fp16=True, int8=True, calib_images=30, int8_min_agreement=0.75)
    )
    assert set(result.written) == {"fp32", "fp16", "int8"}
    assert result.written["fp16"].name == "colors.fp16.onnx" and result.written["int8"].name == "colors.int8.onnx"
    fp32 = result.reports["fp32"]
    assert fp32.agreement == 1.0 and fp32.max_abs_diff <= 1e-4 and fp32.num_images > 0
    report = json.loads(result.report_path.read_text())
    assert set(report) == {"fp32", "fp16", "int8"} and all(entry["passed"] for entry in report.values())
    metrics = json.loads((run / "metrics.json").read_text())
    for precision, path in result.written.items():
        classifier = load_classifier(path, "cpu")
        assert classifier.info.precision == precision
        assert classifier.info.classes == ("blue", "green", "red")
        assert classifier.info.input_size == (32, 32)
        assert classifier.info.backbone == "mobilenetv3small"
        assert classifier.info.val_accuracy == pytest.approx(metrics["val_accuracy"], abs=1e-6)
        inputs = {i.name: i for i in classifier.session.get_inputs()}
        assert inputs["image"].type == "tensor(uint8)"
        assert classifier.session.get_outputs()[0].type == "tensor(float)"
    fp16 = onnx.load(result.written["fp16"])
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in fp16.graph.initializer)
    int8 = onnx.load(result.written["int8"])
    assert any(node.op_type == "QuantizeLinear" for node in int8.graph.node)
    assert any(t.data_type == onnx.TensorProto.INT8 for t in int8.graph.initializer)


def test_predict_on_the_export_matches_keras(trained_run, tmp_path):
    import keras

    from edgecls.runtime.images import load_and_resize

    run, _ = trained_run
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    from edgecls.exporter.export import split_items

    paths = [path for path, _ in split_items(json.loads((run / "split.json").read_text()), "val")]
    model = keras.saving.load_model(run / "model.keras")
    keras_labels = model.predict(np.stack([load_and_resize(p, (32, 32)) for p in paths]), verbose=0).argmax(1)
    predicted = runner.invoke(app, ["predict", str(tmp_path / "m.onnx"), *paths, "--format", "json"])
    assert predicted.exit_code == 0, predicted.output
    labels = [json.loads(line)["label"] for line in predicted.stdout.splitlines()]
    classes = ["blue", "green", "red"]
    assert labels == [classes[index] for index in keras_labels]


def _swapped(proto):
    """The converted model with its first two output columns swapped: it answers blue for green and back."""
    for node in proto.graph.node:
        node.output[:] = ["swapped" if name == "probabilities" else name for name in node.output]
    proto.graph.initializer.append(onnx.numpy_helper.from_array(np.array([1, 0, 2], np.int64), "order"))
    proto.graph.node.append(onnx.helper.make_node("Gather", ["swapped", "order"], ["probabilities"], axis=1))
    return proto


def test_a_model_that_disagrees_is_not_written(trained_run, tmp_path, monkeypatch):
    from edgecls.exporter import convert
    from edgecls.exporter.export import ExportConfig, export

    real = convert.keras_to_onnx
    monkeypatch.setattr(convert, "keras_to_onnx", lambda model, size, opset: _swapped(real(model, size, opset)))
    run, _ = trained_run
    out = tmp_path / "tampered.onnx"
    with pytest.raises(ParityError, match="fp32 failed the parity gate") as raised:
        export(ExportConfig(source=str(run), out=str(out)))
    assert not out.exists()
    # The error carries the export's outcome: nothing written, the failing report for a caller to read.
    assert raised.value.result.failed == ["fp32"] and raised.value.result.written == {}
    assert list(tmp_path.glob(".*tmp")) == []
    report = json.loads((tmp_path / "tampered.parity.json").read_text())
    assert report["fp32"]["passed"] is False and report["fp32"]["flips"]


def test_export_errors_name_the_fix(tmp_path):
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["export", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no model.keras found" in result.output


def test_export_never_replaces_its_source_or_a_file_that_is_not_onnx(trained_run, tmp_path):
    run, _ = trained_run
    model = run / "model.keras"
    before = model.read_bytes()
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(run), "--out", str(model)])
    assert result.exit_code != 0 and "must end in .onnx" in result.output
    notes = tmp_path / "notes.onnx"
    notes.write_text("my notes\n")
    result = runner.invoke(app, ["export", str(run), "--out", str(notes), "--force"])
    assert result.exit_code != 0 and "is not an ONNX file" in result.output
    assert model.read_bytes() == before and notes.read_text() == "my notes\n"
    assert "Traceback" not in result.output


def test_export_needs_force_to_replace_an_earlier_export(trained_run, tmp_path):
    from edgecls.exporter.export import ExportConfig, export

    run, _ = trained_run
    out = tmp_path / "model.onnx"
    export(ExportConfig(source=str(run), out=str(out)))
    first = out.stat().st_mtime_ns
    with pytest.raises(EdgeclsError, match="exists .*`force`"):
        export(ExportConfig(source=str(run), out=str(out)))
    assert out.stat().st_mtime_ns == first
    export(ExportConfig(source=str(run), out=str(out), force=True))
    assert out.stat().st_mtime_ns != first


def test_a_failed_gate_moves_an_older_file_of_that_precision_aside(trained_run, tmp_path, monkeypatch):
    from edgecls.exporter import convert
    from edgecls.exporter.export import ExportConfig, export

    run, _ = trained_run
    out = tmp_path / "model.onnx"
    export(ExportConfig(source=str(run), out=str(out)))
    older = out.read_bytes()
    real = convert.keras_to_onnx
    monkeypatch.setattr(convert, "keras_to_onnx", lambda model, size, opset: _swapped(real(model, size, opset)))
    with pytest.raises(ParityError):
        export(ExportConfig(source=str(run), out=str(out), force=True))
    assert not out.exists()  # nothing that looks like this export's result
    assert (tmp_path / "model.onnx.old").read_bytes() == older


def test_keras_files_with_code_or_in_legacy_formats_are_one_line(tmp_path, color_model):
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    (tmp_path / "old.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    (tmp_path / "cut.keras").write_bytes((tmp_path / "lambda.keras").read_bytes()[:200])
    runner = CliRunner()
    for name, message in (("lambda.keras", "Lambda"), ("old.h5", "only .keras"), ("cut.keras", "cannot load")):
        result = runner.invoke(app, ["bench", str(color_model), "--keras", str(tmp_path / name), "--seconds", "0.2"])
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output


def test_a_model_no_better_than_chance_is_refused_unless_forced(tmp_path):
    """The band model on check images whose labels are shifted by one class: right on none of them,
    where always answering the most common class is right on half. Refused, one line; `--force`
    exports it with the same figures as a warning."""
    from crafted_runs import band_run

    run = band_run(tmp_path)
    split = json.loads((run / "split.json").read_text())
    split["val"] = [[path, (label + 1) % 3] for path, label in split["val"]]
    (run / "split.json").write_text(json.dumps(split))
    runner = CliRunner()
    refused = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "m.onnx")])
    assert refused.exit_code == 2, refused.output
    assert "it has not learnt" in refused.output and "--force exports it anyway" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "m.onnx").exists()
    forced = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "m.onnx"), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "Exported anyway (--force)" in forced.output and (tmp_path / "m.onnx").is_file()


def test_two_exports_into_one_file_at_once_leave_one_whole_file(tmp_path):
    import subprocess
    import sys

    from crafted_runs import band_run

    run = band_run(tmp_path)
    target = tmp_path / "out" / "m.onnx"
    command = [sys.executable, "-m", "edgecls.cli", "export", str(run), "--out", str(target), "--force"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    onnx.checker.check_model(onnx.load(target))
    assert sorted(path.name for path in target.parent.iterdir()) == ["m.onnx", "m.parity.json"]  # no temporaries left
