"""End-to-end training on generated images: tiny backbones, 32 px, no downloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.core.errors import EdgeclsError
from edgecls.trainer.config import TrainConfig

from datasets import color_squares, tiny_scratch_config, tiny_weights_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    return tiny_weights_file(tmp_path_factory.mktemp("weights") / "mobilenetv3small_notop.weights.h5")


def test_scratch_training_learns_and_writes_every_output(tmp_path):
    data = color_squares(tmp_path / "data", per_class=30, size=40)
    # A file name that is not UTF-8 on disk (Latin-1 é): written to split.json and read back exactly.
    odd = os.fsencode(data / "red") + b"/caf\xe9.png"
    os.rename(os.fsencode(data / "red" / "000.png"), odd)
    config = tiny_scratch_config(data, tmp_path / "run")
    from edgecls.trainer.run import train

    result = train(config)
    run = tmp_path / "run"
    split = json.loads((run / "split.json").read_bytes().decode("utf-8"))  # strict: valid UTF-8
    assert os.path.relpath(os.fsdecode(odd), data) in [path for path, _ in split["train"] + split["val"]]
    for name in (
        "model.keras",
        "config.json",
        "history.csv",
        "metrics.json",
        "classes.txt",
        "split.json",
        "plots/curves.png",
        "plots/confusion.png",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["final_stage"] == "scratch"
    assert metrics["classes"] == ["blue", "green", "red"]
    num_val = len(json.loads((run / "split.json").read_text())["val"])
    assert np.array(metrics["confusion_matrix"]).sum() == num_val == metrics["stages"]["scratch"]["num_images"]
    assert set(metrics["per_class"]) == {"blue", "green", "red"}
    assert metrics["accuracy"] == result.metrics["accuracy"]
    assert metrics["accuracy"] >= 0.8, metrics
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("stage,epoch,seconds,loss,accuracy,val_loss,val_accuracy")
    assert len(history) >= 2
    saved = json.loads((run / "config.json").read_text())
    assert saved["image_size"] == 32 and saved["weights"] == "none"
    # model.keras loads in safe mode in a process that never imported edgecls: no custom or Lambda layers.
    code = (
        "import os, sys, numpy as np; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\n"
        "import keras\n"
        f"model = keras.saving.load_model({str(run / 'model.keras')!r}, safe_mode=True)\n"
        "assert model.input.dtype == 'uint8', model.input.dtype\n"
        "out = model.predict(np.zeros((2, 32, 32, 3), np.uint8), verbose=0)\n"
        "assert out.shape == (2, 3) and abs(out.sum(axis=1) - 1).max() < 1e-4\n"
        "assert not any(name.startswith('edgecls') for name in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_bottleneck_cache_is_reused(tmp_path, tiny_weights):
    data = color_squares(tmp_path / "data", per_class=12, size=40)
    from edgecls.trainer.run import train

    common = dict(
        data=str(data),
        backbone="mobilenetv3small",
        weights=str(tiny_weights),
        image_size=32,
        mode="bottleneck",
        epochs=3,
        batch_size=8,
        cache_dir=str(tmp_path / "cache"),
    )
    first = train(TrainConfig(**common, out=str(tmp_path / "first")))
    (cache_file,) = (tmp_path / "cache").iterdir()
    stamp = cache_file.stat().st_mtime_ns
    second = train(TrainConfig(**common, out=str(tmp_path / "second")))
    assert first.num_features_extracted == 36
    assert second.num_features_extracted == 0
    assert cache_file.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "second" / "metrics.json").read_text())["final_stage"] == "bottleneck"
    # A copy of a cached image costs nothing (features are keyed by content); a new image costs one.
    (data / "blue" / "copy.png").write_bytes((data / "blue" / "001.png").read_bytes())
    new = cv2.flip(cv2.imread(str(data / "red" / "002.png")), 0)
    cv2.imwrite(str(data / "red" / "new.png"), new)
    third = train(TrainConfig(**common, out=str(tmp_path / "third"), seed=1))
    assert third.num_features_extracted == 1
    # A truncated cache (a crash, a full disk, a copy cut short) is rebuilt, with a notice.
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    fourth = train(TrainConfig(**common, out=str(tmp_path / "fourth")))
    assert fourth.num_features_extracted == 37  # every distinct image again
    from edgecls.trainer.features import load_cache

    assert len(load_cache(cache_file, 576)) == 37  # MobileNetV3Small's 576 features
    # The cache is a header and fixed-size records, appended as extraction goes: one cut short (a crash
    # mid-write) costs that record only, and the next run appends after the last whole one.
    header, record = len(cache_file.read_bytes()) - 37 * (20 + 4 * 576), 20 + 4 * 576
    cache_file.write_bytes(cache_file.read_bytes()[: header + 10 * record + 100])
    fifth = train(TrainConfig(**common, out=str(tmp_path / "fifth")))
    assert fifth.num_features_extracted == 27
    assert len(load_cache(cache_file, 576)) == 37 and cache_file.stat().st_size == header + 37 * record


def test_a_run_directory_belongs_to_one_run(tmp_path):
    from edgecls.trainer.run import claim_run_dir, next_run_dir

    # Numbered directories are created, not just chosen: two runs at once get two.
    first, second = next_run_dir(tmp_path / "runs", "vgg16"), next_run_dir(tmp_path / "runs", "vgg16")
    assert (first.name, second.name) == ("vgg16-001", "vgg16-002") and first.is_dir() and second.is_dir()
    claim_run_dir(tmp_path / "out")
    with pytest.raises(EdgeclsError, match="used by another run"):
        claim_run_dir(tmp_path / "out")  # a second run with the same --out
    result = CliRunner().invoke(
        app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--weights", "none"]
    )
    assert result.exit_code != 0 and "used by another run" in result.output and "Traceback" not in result.output


def test_a_run_that_never_started_leaves_nothing_that_blocks_the_next(tmp_path, caplog):
    import logging

    from edgecls.trainer.run import CLAIM, claim_run_dir

    out = tmp_path / "out"
    runner = CliRunner()
    command = ["train", "--data", str(tmp_path / "missing"), "--out", str(out), "--weights", "none", "--backbone", "compactcnn"]
    for _ in range(2):  # the second run meets the same data error, not the first run's claim
        result = runner.invoke(app, command)
        assert result.exit_code != 0 and "used by another run" not in result.output, result.output
        assert not (out / CLAIM).exists()
    # A claim left by a process that is gone (killed before its first epoch) is taken over, with a notice.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (out / CLAIM).write_text(f"{gone.pid}\n")
    with caplog.at_level(logging.WARNING, logger="edgecls.trainer.run"):
        claim_run_dir(out)
    assert f"taking it over from a run that never trained (process {gone.pid} is gone)" in caplog.text
    assert (out / CLAIM).read_text().split()[0] == str(os.getpid())
    # ... but never a live run's, nor one whose run trained.
    with pytest.raises(EdgeclsError, match="used by another run"):
        claim_run_dir(out)
    (out / CLAIM).write_text(f"{gone.pid}\n")
    (out / "model.keras").write_bytes(b"")
    with pytest.raises(EdgeclsError, match="used by another run"):
        claim_run_dir(out)


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno

    from edgecls.trainer import run as run_module

    class Model:
        def save(self, path):
            with open(path, "wb") as handle:
                handle.write(b"half a model")
            raise OSError(errno.ENOSPC, "No space left on device")

    checkpoint = tmp_path / "model.keras"
    checkpoint.write_bytes(b"the previous checkpoint")
    with pytest.raises(EdgeclsError, match="cannot write \\(No space left on device\\); the previous file is kept"):
        run_module._save_model(Model(), checkpoint)
    assert checkpoint.read_bytes() == b"the previous checkpoint" and len(list(tmp_path.iterdir())) == 1


def test_fine_tune_after_bottleneck(tmp_path, tiny_weights):
    data = color_squares(tmp_path / "data", per_class=10, size=40)
    from edgecls.trainer.run import train

    result = train(
        TrainConfig(
            data=str(data),
            backbone="mobilenetv3small",
            weights=str(tiny_weights),
            image_size=32,
            epochs=2,
            fine_tune_epochs=2,
            batch_size=8,
            fine_tune_layers="all",
            out=str(tmp_path / "run"),
            cache_dir=str(tmp_path / "cache"),
        )
    )
    metrics = result.metrics
    assert list(metrics["stages"]) == ["bottleneck", "finetune"]
    rows = (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]
    assert {row.split(",")[0] for row in rows} == {"bottleneck", "finetune"}


def test_argument_errors_are_clear(tmp_path, monkeypatch):
    from edgecls.trainer.run import train

    data = color_squares(tmp_path / "data", per_class=3)
    with pytest.raises(EdgeclsError, match="`weights` none.*`mode` finetune"):
        train(TrainConfig(data=str(data), weights="none", mode="bottleneck", out=str(tmp_path / "a")))
    with pytest.raises(EdgeclsError, match="Received `weights` '/no/such.h5'"):
        train(TrainConfig(data=str(data), weights="/no/such.h5", out=str(tmp_path / "b")))
    with pytest.raises(EdgeclsError, match="too small for inceptionv3"):
        train(
            TrainConfig(data=str(data), backbone="inceptionv3", weights="none", image_size=32, out=str(tmp_path / "c"))
        )


def test_offline_imagenet_names_both_ways_out(monkeypatch):
    import keras

    from edgecls.trainer.backbones import build_backbone

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3] no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.applications.mobilenet_v3.file_utils.get_file", offline, raising=False)
    with pytest.raises(EdgeclsError, match="`weights` PATH.*`weights` none"):
        build_backbone("mobilenetv3small", "imagenet", 32)


def test_the_compact_backbone_trains_from_scratch_or_from_its_own_weights(tmp_path):
    import numpy as np

    from edgecls.trainer.backbones import build_backbone

    with pytest.raises(EdgeclsError, match="no ImageNet weights.*`weights` none"):
        build_backbone("compactcnn", "imagenet", 32)
    backbone = build_backbone("compactcnn", "none", 40)
    assert backbone.output_shape == (None, 256)  # average and max pooling of the last block's 128 filters
    # A bright dot is kept by the max pooling wherever it is: the features differ from a blank image's.
    blank = np.zeros((1, 40, 40, 3), np.float32)
    dot = blank.copy()
    dot[0, 30:33, 5:8] = 1.0
    assert not np.allclose(backbone.predict(blank, verbose=0), backbone.predict(dot, verbose=0))
    weights = tmp_path / "compact.weights.h5"
    backbone.save_weights(weights)
    again = build_backbone("compactcnn", str(weights), 40)
    np.testing.assert_allclose(again.predict(dot, verbose=0), backbone.predict(dot, verbose=0), rtol=1e-5, atol=1e-6)


def test_cli_reports_data_errors_without_traceback(tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "missing"), "--weights", "none"])
    assert result.exit_code == 2
    assert "folder not found" in result.output and "Traceback" not in result.output


def test_a_nan_loss_stops_the_epoch_log():
    from edgecls.trainer.callbacks import EpochLog

    class Model:
        stop_training = False

    log = EpochLog("scratch", 3)
    log.set_model(Model())
    log.on_train_batch_end(0, {"loss": 0.5})
    assert not log.nan and not log.model.stop_training
    log.on_train_batch_end(1, {"loss": float("nan")})
    assert log.nan and log.model.stop_training


def test_a_nan_run_saves_nothing_bad(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from edgecls.trainer import fit
    from edgecls.trainer.run import TrainingStopped, train

    def diverging(model, train_data, val, optimizer, stage, on_improvement=None, **fit_args):
        return SimpleNamespace(rows=[], interrupted=False, nan=True, best_epoch=-1)

    monkeypatch.setattr(fit, "fit_stage", diverging)
    data = color_squares(tmp_path / "data", per_class=6, size=40)
    with pytest.raises(TrainingStopped, match="NaN before any epoch"):
        train(tiny_scratch_config(data, tmp_path / "run"))
    assert not (tmp_path / "run" / "model.keras").exists()


def test_ctrl_c_keeps_the_best_model_so_far(tmp_path, monkeypatch):
    from edgecls.trainer.callbacks import EpochLog
    from edgecls.trainer.run import train

    original = EpochLog.on_epoch_end

    def interrupt_at_third_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochLog, "on_epoch_end", interrupt_at_third_epoch)
    data = color_squares(tmp_path / "data", per_class=10, size=40)
    result = train(tiny_scratch_config(data, tmp_path / "run"))
    assert result.interrupted
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["interrupted"] is True
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 1 + 3
    import keras

    assert keras.saving.load_model(tmp_path / "run" / "model.keras").output_shape == (None, 3)


def test_a_full_disk_while_checkpointing_stops_with_one_line_and_the_run_resumes(tmp_path, monkeypatch):
    import errno

    import keras

    from edgecls.trainer.run import resume, train

    data = color_squares(tmp_path / "data", per_class=8, size=40)
    config = replace(tiny_scratch_config(data, tmp_path / "run"), epochs=3, fine_tune_epochs=1, patience=10)
    real = keras.Model.save_weights
    calls = []

    def full_on_the_third(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            with open(path, "wb") as handle:
                handle.write(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", full_on_the_third)
    with pytest.raises(EdgeclsError, match="could not write the checkpoint .*No space left on device.*`resume`"):
        train(config)
    backup = tmp_path / "run" / "checkpoint" / "scratch" / "backup"
    assert sorted(path.name for path in backup.iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    monkeypatch.setattr(keras.Model, "save_weights", real)
    result = resume(tmp_path / "run")  # space again: on from the last whole epoch (2 of 4)
    assert not result.interrupted and not (tmp_path / "run" / "checkpoint").exists()
    rows = (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]
    assert [row.split(",")[:2] for row in rows] == [["scratch", str(epoch)] for epoch in range(1, 5)]


def test_the_same_seed_gives_the_same_model(tmp_path, caplog):
    """Shuffle, augmentation (stateless, keyed by the batch) and the ops themselves are seeded: two
    runs of one configuration end with the same figures and the same weights; another seed differs."""
    import logging

    from edgecls.trainer.run import train
    from edgecls.trainer.saving import load_keras_model

    data = color_squares(tmp_path / "data", per_class=12, size=32)
    base = replace(tiny_scratch_config(data, tmp_path / "a"), backbone="compactcnn", epochs=2, augment=True, seed=3)
    with caplog.at_level(logging.INFO, logger="edgecls.trainer.run"):
        runs = [train(replace(base, out=str(tmp_path / name))) for name in ("a", "b")]
    # From scratch the two stages are one, and the log says how many epochs that makes.
    assert "from scratch in one stage of 3 epochs (`epochs` 2 + `fine_tune_epochs` 1" in caplog.text
    other = train(replace(base, out=str(tmp_path / "c"), seed=4))

    def losses(run) -> list[str]:
        return [line.split(",")[3] for line in (run.run_dir / "history.csv").read_text().splitlines()[1:]]

    assert losses(runs[0]) == losses(runs[1])
    weights = [load_keras_model(run.run_dir / "model.keras").get_weights() for run in (*runs, other)]
    assert all(np.array_equal(x, y) for x, y in zip(weights[0], weights[1], strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(weights[0], weights[2], strict=True))
