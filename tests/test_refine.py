"""`edgecls train --data DIR --from RUN`: a finished run fine-tuned on new images (crops collected
on the user's own scenes) into a new run that keeps its labels and input size; RUN unchanged; the
old and the new model's accuracy on the new validation images; bad input in one line."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.core.errors import DataError, EdgeclsError

from datasets import color_squares, tiny_scratch_config

pytestmark = pytest.mark.slow


def dusk_squares(root: Path, names: tuple[str, ...], per_class: int, size: int = 40, seed: int = 1) -> Path:
    """The same classes on the user's own scenes: dim squares on a brighter, busier background."""
    dim = lambda rgb, rng: np.array(rgb) * 0.45 + 40  # noqa: E731
    return color_squares(root, per_class, size, seed, names=names, background=(70, 170), paint=dim, suffix=".jpg")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    from edgecls.trainer.run import train

    root = tmp_path_factory.mktemp("refine")
    data = color_squares(root / "data", per_class=30, size=40)
    return train(tiny_scratch_config(data, root / "run")).run_dir


def test_a_run_refined_on_new_scenes_keeps_its_labels_and_says_both_accuracies(finished_run, tmp_path, caplog):
    from edgecls.trainer.run import refine

    new = dusk_squares(tmp_path / "collected", ("green", "red"), per_class=24)  # no blue collected
    before = hashlib.sha256((finished_run / "model.keras").read_bytes()).hexdigest()
    with caplog.at_level(logging.INFO):
        result = refine(finished_run, new, out=tmp_path / "refined", fine_tune_epochs=8)
    refined = tmp_path / "refined"
    assert result.run_dir == refined and (refined / "model.keras").is_file()
    assert hashlib.sha256((finished_run / "model.keras").read_bytes()).hexdigest() == before  # RUN unchanged
    assert (refined / "classes.txt").read_text() == (finished_run / "classes.txt").read_text() == "blue\ngreen\nred\n"
    old_config, new_config = (json.loads((run / "config.json").read_text()) for run in (finished_run, refined))
    assert new_config["image_size"] == old_config["image_size"] == 32 and new_config["backbone"] == old_config["backbone"]
    assert new_config["from_run"] == str(finished_run.absolute()) and new_config["data"] == str(new.absolute())
    metrics = json.loads((refined / "metrics.json").read_text())
    old = metrics["refined_from"]
    assert old["val_images"] == len(json.loads((refined / "split.json").read_text())["val"]) > 0
    assert metrics["final_stage"] == "refine" and metrics["accuracy"] >= max(0.8, old["accuracy"])
    line = f"on the {old['val_images']} validation images of {new}: {finished_run.absolute()} {old['accuracy']:.2%}, {refined} {metrics['accuracy']:.2%}"
    assert line in caplog.text
    assert "no new training images of blue" in caplog.text


def test_refining_starts_from_the_run_s_weights(finished_run, tmp_path):
    """One gentle epoch on a few new images leaves the run's knowledge in place: the old data is still
    read right (a model started from scratch would be at chance after one epoch)."""
    from edgecls.trainer.evaluate import predict_images
    from edgecls.trainer.run import refine
    from edgecls.trainer.saving import load_keras_model

    new = dusk_squares(tmp_path / "few", ("blue", "green", "red"), per_class=6)
    refine(finished_run, new, out=tmp_path / "gentle", fine_tune_epochs=1)
    old_data = color_squares(tmp_path / "old-data", per_class=10, size=40, seed=7)
    images = np.stack(
        [cv2.resize(cv2.imread(str(path))[..., ::-1], (32, 32), interpolation=cv2.INTER_AREA) for path in sorted(old_data.glob("*/*.png"))]
    )
    labels = np.array([["blue", "green", "red"].index(path.parent.name) for path in sorted(old_data.glob("*/*.png"))])
    model = load_keras_model(tmp_path / "gentle" / "model.keras")
    assert (predict_images(model, images, 8).argmax(axis=1) == labels).mean() >= 0.8


def test_refining_refuses_what_it_cannot_do_in_one_line(finished_run, tmp_path):
    from edgecls.trainer.run import refine

    stranger = dusk_squares(tmp_path / "stranger", ("green", "purple"), per_class=4)
    with pytest.raises(DataError, match="purple are not among the run's classes"):
        refine(finished_run, stranger, out=tmp_path / "x")
    with pytest.raises(EdgeclsError, match="not a finished run"):
        refine(tmp_path, stranger, out=tmp_path / "y")
    with pytest.raises(EdgeclsError, match="is the run being refined"):
        refine(finished_run, stranger, out=finished_run)
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--from", str(finished_run)])
    assert result.exit_code == 2 and "--from RUN refines a run on new images" in result.output
    result = runner.invoke(app, ["train", "--from", str(tmp_path / "nope"), "--data", str(stranger)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = runner.invoke(app, ["train", "--from", str(finished_run), "--data", str(stranger), "--epochs", "3", "--flip"])
    assert result.exit_code == 2 and "--epochs cannot change them" in result.output  # never ignored in silence


def test_a_seed_given_with_from_is_the_refined_run_s(finished_run, tmp_path):
    from edgecls.trainer.config import TrainConfig
    from edgecls.trainer.run import refine

    crops = dusk_squares(tmp_path / "crops", ("green", "red"), per_class=6)
    refine(finished_run, crops, out=tmp_path / "seeded", fine_tune_epochs=1, seed=7)
    assert TrainConfig.from_json_file(tmp_path / "seeded" / "config.json").seed == 7
