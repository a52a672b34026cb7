"""A class that must be earned (`min_class_scores`): reported only at its minimum probability, by
predict, by the live loop's per-frame label and by its smoothed state; bad values are refused."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgecls.core.errors import EdgeclsError, ModelContractError
from edgecls.exporter.export import min_class_scores
from edgecls.runtime import classify_files, collect_inputs, load_classifier
from edgecls.runtime.contract import build_metadata
from edgecls.runtime.smoothing import StateSmoother

from onnx_models import color_classifier

CLASSES = ("red", "green", "blue")


def earned_model(path, scores: dict[str, float] | str):
    value = scores if isinstance(scores, str) else json.dumps(scores)
    metadata = build_metadata(CLASSES, (32, 32), "test", "fp32", 1.0, "now", {"min_class_scores": value})
    return color_classifier(path, CLASSES, metadata=metadata)


def reddish(path):
    """Red a little above green: the colour model says red with p = 0.88, green 0.12."""
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0], image[..., 1] = 200, 190
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def test_a_class_below_its_minimum_gives_way_to_the_next(tmp_path):
    image = reddish(tmp_path / "reddish.png")
    plain = load_classifier(color_classifier(tmp_path / "plain.onnx", CLASSES), "cpu")
    earned = load_classifier(earned_model(tmp_path / "earned.onnx", {"red": 0.95}), "cpu")
    (before,) = classify_files(plain, collect_inputs([str(image)]), topk=3)
    (after,) = classify_files(earned, collect_inputs([str(image)]), topk=3)
    assert before.label == "red" and before.score == pytest.approx(0.881, abs=0.01)
    assert after.label == "green" and after.score == pytest.approx(0.119, abs=0.01)
    assert after.topk == before.topk  # the probabilities are reported as they are
    lenient = load_classifier(earned_model(tmp_path / "lenient.onnx", {"red": 0.8}), "cpu")
    (met,) = classify_files(lenient, collect_inputs([str(image)]))
    assert met.label == "red"  # 0.88 meets 0.8


def test_the_smoothed_state_follows_the_same_rule(tmp_path):
    info = load_classifier(earned_model(tmp_path / "earned.onnx", {"red": 0.95}), "cpu").info
    smoother = StateSmoother(info.classes, window=1, decide=info.decide)
    assert smoother.update(np.array([0.9, 0.08, 0.02], np.float32))[0] == "green"
    assert smoother.update(np.array([0.97, 0.02, 0.01], np.float32))[0] == "red"
    assert StateSmoother(info.classes, window=1).update(np.array([0.9, 0.08, 0.02], np.float32))[0] == "red"


@pytest.mark.parametrize(
    "value",
    ['{"purple": 0.9}', '{"red": 1.5}', '{"red": 0}', '{"red": "high"}', "[0.9]", "not json"],
)
def test_a_bad_minimum_in_the_file_is_refused(tmp_path, value):
    path = earned_model(tmp_path / "bad.onnx", value)
    with pytest.raises(ModelContractError, match="metadata 'min_class_scores' must be a JSON object of the model's class names"):
        load_classifier(path, "cpu")


def test_export_takes_class_equals_score():
    assert min_class_scores(("off=0.9",), ["green", "off", "red"]) == {"off": 0.9}
    for bad in ("of=0.9", "off", "off=2", "off=0", "off=x"):
        with pytest.raises(EdgeclsError, match=r"`min_class_score` takes CLASS=SCORE, a class of the run \(green, off, red\)"):
            min_class_scores((bad,), ["green", "off", "red"])
    with pytest.raises(EdgeclsError, match="names every class"):
        min_class_scores(("a=0.5", "b=0.5"), ["a", "b"])


def test_export_refuses_labels_that_could_disguise_output():
    from edgecls.exporter.export import check_labels

    check_labels(["red", "grün", "<b>off</b>"])  # markup is text: the outputs escape it
    for bad in ("red\x1b[2J", "gr\u202eeen", "a\nb", ""):
        with pytest.raises(EdgeclsError, match="control character or a text-direction mark"):
            check_labels(["ok", bad])



def test_a_held_back_class_at_a_transition_keeps_the_state_rather_than_unknown():
    """off held to 0.8: between yellow and off the window's mean is mixed (off 0.66): the state stays
    what it was until the evidence is clear, with no `unknown` in between (which would break flashing)."""
    smoother = StateSmoother(("off", "yellow"), window=3, min_score=0.5, decide=lambda mean: 1 if mean[0] < 0.8 else 0)
    off, yellow = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    states = [smoother.update(frame)[0] for frame in [yellow] * 3 + [off] * 4 + [yellow] * 3]
    assert "unknown" not in states[1:]
    assert states[:5] == ["yellow"] * 5 and states[5:7] == ["off", "off"] and states[-1] == "yellow"
