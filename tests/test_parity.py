"""The parity gate and the ROI crop: pure numpy, no model needed."""

from __future__ import annotations

import numpy as np
import pytest

from edgecls.exporter.parity import Gate, compare
from edgecls.runtime.live import crop_roi

CLASSES = ["blue", "green", "red"]


def probabilities(labels: list[int], confidence: float = 0.8) -> np.ndarray:
    rows = np.full((len(labels), 3), (1 - confidence) / 2, np.float32)
    rows[np.arange(len(labels)), labels] = confidence
    return rows


def test_identical_outputs_pass_every_gate():
    keras = probabilities([0, 1, 2, 1])
    report = compare("fp32", keras, keras.copy(), list("abcd"), CLASSES, Gate(1.0, 1e-4), np.array([0, 1, 2, 2]))
    assert report.passed and report.agreement == 1.0 and report.max_abs_diff == 0.0 and report.flips == []
    assert report.accuracy == report.keras_accuracy == 0.75


def test_one_flip_in_ten_is_named_and_judged_against_the_gate():
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    keras = probabilities(labels)
    onnx = keras.copy()
    onnx[3] = probabilities([2])[0]  # image "p3": blue -> red
    paths = [f"p{index}" for index in range(10)]
    strict = compare("int8", keras, onnx, paths, CLASSES, Gate(0.95))
    assert not strict.passed and strict.agreement == pytest.approx(0.9)
    assert strict.flips == [{"path": "p3", "keras": "blue", "onnx": "red"}]
    assert compare("int8", keras, onnx, paths, CLASSES, Gate(0.9)).passed
    assert "FAIL int8" in strict.summary() and "1 label flip(s)" in strict.summary()


def test_a_class_that_loses_recall_fails_the_gate_even_when_overall_agreement_passes():
    labels = [0] * 48 + [1] * 48 + [2] * 4
    keras = probabilities(labels)
    onnx = keras.copy()
    onnx[96:98] = probabilities([0, 0])  # two of the four red images read blue: 98% agreement
    paths = [f"p{index}" for index in range(100)]
    report = compare("int8", keras, onnx, paths, CLASSES, Gate(0.98, max_recall_drop=5.0), np.array(labels))
    assert report.agreement == pytest.approx(0.98) and not report.passed and report.worst_drop == 50.0
    assert report.per_class["red"] == {"images": 4, "keras_recall": 1.0, "recall": 0.5, "drop": 50.0}
    assert report.failures == ["class red lost 50.0 points of recall (100.0% with Keras, 50.0% here, 4 images; the limit is 5)"]
    assert compare("int8", keras, onnx, paths, CLASSES, Gate(0.98, max_recall_drop=50.0), np.array(labels)).passed
    assert "red 50.0% (Keras 100.0%)" in report.recall_line()


def test_fp32_needs_close_probabilities_not_only_the_same_labels():
    keras = probabilities([0, 1])
    onnx = keras + np.array([[1e-3, -1e-3, 0], [0, 0, 0]], np.float32)
    report = compare("fp32", keras, onnx, ["a", "b"], CLASSES, Gate(1.0, 1e-4))
    assert report.agreement == 1.0 and report.max_abs_diff == pytest.approx(1e-3, rel=1e-3) and not report.passed


def test_non_finite_outputs_never_pass():
    keras = probabilities([0, 0, 0])
    onnx = np.full_like(keras, np.nan)  # argmax of an all-NaN row is 0: "agrees" with Keras
    report = compare("fp16", keras, onnx, ["a", "b", "c"], CLASSES, Gate(0.0))
    assert not report.passed


def test_crop_roi_clips_to_the_frame_and_falls_back_to_the_whole_frame():
    frame = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3)
    assert crop_roi(frame, None) is frame
    assert crop_roi(frame, (10, 20, 30, 40)).shape == (40, 30, 3)
    assert np.array_equal(crop_roi(frame, (10, 20, 30, 40)), frame[20:60, 10:40])
    assert crop_roi(frame, (180, 90, 50, 50)).shape == (10, 20, 3)  # clipped at the right and bottom
    assert crop_roi(frame, (500, 500, 10, 10)) is frame  # misses the frame: the whole frame
    assert crop_roi(frame, (199, 10, 10, 10)) is frame  # one pixel wide after clipping: too small
