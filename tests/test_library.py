"""edgecls as a library: a Python caller sees nothing unless it configures logging."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import logging, sys
from pathlib import Path
import cv2, numpy as np
sys.path.insert(0, sys.argv[2])
from datasets import color_squares, tiny_scratch_config
from onnx_models import color_classifier
from edgecls.exporter.export import ExportConfig, export
from edgecls.runtime import classify_files, collect_inputs, load_classifier
from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.streams import FrameSource
from edgecls.runtime.sources import parse_source
from edgecls.trainer.run import train

work = Path(sys.argv[1])
data = color_squares(work / "data", per_class=12, size=32)
config = tiny_scratch_config(data, work / "run")
train(config.__class__(**{**config.__dict__, "epochs": 2, "fine_tune_epochs": 0}))
export(ExportConfig(source=str(work / "run"), out=str(work / "model.onnx")))
classifier = load_classifier(color_classifier(work / "colors.onnx"), "cpu")
results = list(classify_files(classifier, collect_inputs([str(data)])))
assert len(results) == 36
writer = cv2.VideoWriter(str(work / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
for _ in range(10):
    writer.write(np.full((48, 64, 3), 200, np.uint8))
writer.release()
summary = run_live(classifier, FrameSource(parse_source(str(work / "clip.avi"))).start(), LiveConfig())
assert summary.processed == 10
# Now the caller configures logging: the same library calls tell what they do, each module by name.
print("=== logging configured ===", file=sys.stderr, flush=True)
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
export(ExportConfig(source=str(work / "run"), out=str(work / "model.onnx"), force=True))
"""


@pytest.mark.slow
def test_a_python_caller_sees_output_only_when_it_configures_logging(tmp_path):
    tests = str(Path(__file__).parent)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), tests], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout == ""
    # TensorFlow's native start-up notices reach file descriptor 2 before any Python runs; they are
    # TensorFlow's, not edgecls' (the CLI hides them, a library caller owns its own process).
    native = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d)")
    lines = [line for line in out.stderr.splitlines() if line.strip() and not native.match(line)]
    marker = lines.index("=== logging configured ===")
    assert lines[:marker] == [], lines  # train, export, classify_files and run_live: silent
    configured = lines[marker + 1 :]
    assert any(line.startswith("edgecls.exporter.export: wrote") for line in configured), configured
    assert any(line.startswith("edgecls.exporter.export: PASS fp32") for line in configured), configured


def test_the_shell_names_a_parameter_by_its_flag_only_where_the_command_has_one():
    from edgecls.console import shell_text, use_flags
    from edgecls.core.errors import name_parameters

    text = "`val_split` must be below 1; raise `max_pixels`, see `ls /dev/video*` or `data`'s classes"
    assert name_parameters(text, lambda name: None) == text
    use_flags({"val_split": "--val-split", "data": "--data"})
    try:
        assert shell_text(text) == (
            "--val-split must be below 1; raise `max_pixels`, see `ls /dev/video*` or --data's classes"
        )
    finally:
        use_flags({})
    assert shell_text(text) == text


def test_a_library_error_reaches_the_terminal_with_the_flag_that_fixes_it(tmp_path, color_model):
    from typer.testing import CliRunner

    from edgecls.cli import app
    from edgecls.core.errors import DataError
    from edgecls.runtime.bench import bench_end_to_end

    (tmp_path / "labelled" / "purple").mkdir(parents=True)
    (tmp_path / "labelled" / "purple" / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="^`data` .*are not classes of"):
        bench_end_to_end(color_model, str(tmp_path / "labelled"), "cpu", batch=1, threads=None)
    result = CliRunner().invoke(app, ["bench", str(color_model), "--data", str(tmp_path / "labelled"), "--iters", "1"])
    assert result.exit_code == 2 and "error: --data " in result.output and "are not classes of" in result.output


def test_configs_hold_paths_whatever_the_caller_passes(tmp_path):
    from edgecls.exporter.export import ExportConfig
    from edgecls.runtime.live import LiveConfig
    from edgecls.trainer.config import TrainConfig

    config = TrainConfig(data=str(tmp_path), out=str(tmp_path / "run"))
    assert config.data == tmp_path and config.out == tmp_path / "run" and config.val_data is None
    assert '"data": "' + str(tmp_path) + '"' in config.to_json()  # paths are strings in config.json
    assert ExportConfig(source=str(tmp_path)).source == tmp_path
    assert LiveConfig(jsonl="-").jsonl == Path("-") and LiveConfig().record is None


def test_config_from_takes_the_command_arguments_that_name_fields():
    from edgecls.commands import config_from
    from edgecls.commands.train import Backbone
    from edgecls.trainer.config import TrainConfig

    arguments = {"data": Path("d"), "backbone": Backbone("mobilenetv3small"), "epochs": 3, "not_a_field": 1}
    config = config_from(TrainConfig, arguments, epochs=4)
    assert config.backbone == "mobilenetv3small" and config.epochs == 4 and config.data == Path("d")


def test_predict_in_batches_keeps_the_order_and_reports_each_slice():
    import numpy as np

    from edgecls.runtime.model import predict_in_batches

    calls, progress = [], []

    class Task:
        def update(self, n=1, **fields):
            progress.append(n)

    images = np.arange(10, dtype=np.float64)[:, None]
    out = predict_in_batches(lambda batch: calls.append(len(batch)) or batch * 2, images, 4, Task())
    assert out.dtype == np.float32 and out[:, 0].tolist() == [2.0 * i for i in range(10)]
    assert calls == [4, 4, 2] and progress == [4, 4, 2]
    with pytest.raises(ValueError):
        predict_in_batches(lambda batch: batch, images[:0], 4)


def test_labelled_files_refuses_folders_the_model_does_not_know(tmp_path):
    import cv2

    from edgecls.core.errors import DataError
    from edgecls.runtime.folders import labelled_files

    from image_files import solid

    for name in ("red", "green"):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "a.png"), solid((1, 2, 3)))
    assert sorted(name for _, name in labelled_files(tmp_path)) == ["green", "red"]
    assert len(labelled_files(tmp_path, ["green", "red", "blue"])) == 2
    with pytest.raises(DataError, match="red are not classes of this model"):
        labelled_files(tmp_path, ["green"], role="`check_data`")


def test_the_progress_protocol_is_silent_until_a_reporter_is_handed_in():
    from edgecls.core import progress

    seen = []

    class Recorder:
        def __init__(self, total, label):
            seen.append((label, total))

        def update(self, n=1, **fields):
            seen.append(n)

        def close(self, **fields):
            seen.append("closed")

    previous = progress.set_reporter(None)  # as in a fresh process (a CLI test may have handed one in)
    try:
        with progress.track(3, "silent") as task:
            task.update(3)
        assert seen == []
        progress.set_reporter(Recorder)
        with progress.track(2, "work") as task:
            task.update()
            task.update()
    finally:
        progress.set_reporter(previous)
    assert seen == [("work", 2), 1, 1, "closed"]


def test_a_config_override_that_names_no_field_is_an_error():
    from edgecls.commands import config_from
    from edgecls.runtime.live import LiveConfig

    assert config_from(LiveConfig, {"smooth": 3, "model": "m.onnx"}, roi=(1, 2, 3, 4)).roi == (1, 2, 3, 4)
    with pytest.raises(TypeError, match="LiveConfig has no field rio"):
        config_from(LiveConfig, {}, rio=(1, 2, 3, 4))
