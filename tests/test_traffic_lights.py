from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.trainer.traffic_lights import STATES, cycle_states, render_traffic_light, truth_path, write_clip


def lamp_brightness(image: np.ndarray) -> float:
    return float(image.max(axis=2).astype(np.float32).mean())


def test_renderer_is_deterministic_and_varied():
    first = render_traffic_light(np.random.default_rng(5), "red", 64)
    again = render_traffic_light(np.random.default_rng(5), "red", 64)
    other = render_traffic_light(np.random.default_rng(6), "red", 64)
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 10
    with pytest.raises(ValueError):
        render_traffic_light(np.random.default_rng(0), "blue", 64)


def test_the_lit_lamp_sets_the_colour():
    # Averaged over many images, red lights are redder and green lights greener than each other.
    means = {}
    for state in STATES:
        rng = np.random.default_rng(1)
        means[state] = np.mean(
            [render_traffic_light(rng, state, 48).reshape(-1, 3).max(axis=0) for _ in range(40)], axis=0
        )
    assert means["red"][0] - means["red"][1] > means["green"][0] - means["green"][1]
    assert means["green"][1] - means["green"][0] > means["red"][1] - means["red"][0]


def test_cli_writes_class_folders_and_a_clip_with_truth(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "traffic-lights", str(tmp_path / "tl"), "--per-class", "4", "--size", "48"])
    assert result.exit_code == 0, result.output
    for state in STATES:
        files = sorted((tmp_path / "tl" / state).glob("*.png"))
        assert len(files) == 4
        assert cv2.imread(str(files[0])).shape == (48, 48, 3)
    clip = tmp_path / "clip.avi"
    result = runner.invoke(app, ["data", "traffic-clip", str(clip), "--seconds", "1", "--fps", "10"])
    assert result.exit_code == 0, result.output
    truth = json.loads(truth_path(clip).read_text())
    assert len(truth["states"]) == 10 and set(truth["states"]) <= set(STATES)
    capture = cv2.VideoCapture(str(clip))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (640, 480)
    x, y, w, h = truth["roi"]
    assert x >= 0 and x + w <= 640 and y >= 0 and y + h <= 480


def test_cycle_has_every_state_in_order():
    states = cycle_states(500, 25.0, np.random.default_rng(0))
    changes = [b for a, b in zip(states, states[1:], strict=False) if a != b]
    following = {"red": "green", "green": "yellow", "yellow": "red"}
    assert set(states) == set(STATES)
    previous = states[0]
    for state in changes:
        assert following[previous] == state
        previous = state


def test_clip_truth_matches_frames(tmp_path):
    truth = write_clip(tmp_path / "c.avi", seconds=0.4, fps=10, seed=3)
    assert len(truth.states) == 4
