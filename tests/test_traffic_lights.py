from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.core.errors import DataError
from edgecls.datasets.clips import truth_path
from edgecls.datasets.traffic_lights import (
    LAMPS,
    STATES,
    cycle_states,
    render_light,
    render_traffic_light,
    write_clip,
)


def test_renderer_is_deterministic_and_varied():
    first = render_traffic_light(np.random.default_rng(5), "red", 64)
    again = render_traffic_light(np.random.default_rng(5), "red", 64)
    other = render_traffic_light(np.random.default_rng(6), "red", 64)
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 10
    with pytest.raises(ValueError):
        render_traffic_light(np.random.default_rng(0), "blue", 64)


def lit_centre(seed: int, state: str) -> tuple[float, float, bool, tuple[int, int, int, int], np.ndarray]:
    """Where the emitted light of `state` is centred, whether the light is vertical, its housing
    box and the emission's summed colour."""
    layers = render_light(np.random.default_rng(seed), state)
    weight = layers.emission.sum(axis=2)
    ys, xs = np.indices(weight.shape)
    x0, y0, x1, y1 = layers.box
    return (
        float((xs * weight).sum() / weight.sum()),
        float((ys * weight).sum() / weight.sum()),
        (y1 - y0) > (x1 - x0),
        layers.box,
        layers.emission.reshape(-1, 3).sum(axis=0),
    )


def test_the_lit_lamp_is_in_its_place_and_colour_family():
    # What defines a class is never varied: red on top (or at the left), yellow in the middle, green
    # at the bottom (or the right), each in its colour family; off emits nothing.
    for seed in range(30):
        for index, state in enumerate(LAMPS):
            x, y, vertical, (x0, y0, x1, y1), color = lit_centre(seed, state)
            position = (y - y0) / (y1 - y0) if vertical else (x - x0) / (x1 - x0)
            assert index / 3 < position < (index + 1) / 3, (seed, state, position)
            red, green, blue = color / color.max()
            if state == "red":
                assert red == 1 and green <= 0.2, (seed, color)
            elif state == "yellow":
                assert red == 1 and 0.22 <= green <= 0.7 and blue < green, (seed, color)
            else:
                # from a display green through cyan to a blue-white, never towards red or yellow
                assert max(green, blue) == 1 and green >= 0.6 and red < 0.25, (seed, color)
        assert render_light(np.random.default_rng(seed), "off").emission.max() == 0


def test_one_seed_is_one_light_in_every_state():
    # The clip keeps its light and changes only the state: the housing and lenses do not depend on it.
    bodies = [render_light(np.random.default_rng(11), state).body for state in STATES]
    for body in bodies[1:]:
        assert np.array_equal(body, bodies[0])


def test_bright_lamps_saturate_every_channel_in_their_core():
    # Lit lamps emit many times the scene's white (1.0 in linear light), so the sensor clips every
    # channel of the core to (near) white in many lights, while the halo keeps the hue; others are dim
    # (a pale lamp in a washed-out scene), so not every one.
    for state in LAMPS:
        cores = [render_light(np.random.default_rng(seed), state).emission.min(axis=2).max() for seed in range(40)]
        assert 0.15 < np.mean(np.array(cores) > 1.0) < 0.9, (state, cores)


def test_cli_writes_class_folders_and_a_clip_with_truth(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["data", "traffic-lights", str(tmp_path / "tl"), "--per-class", "4", "--size", "48"])
    assert result.exit_code == 0, result.output
    for state in STATES:
        files = sorted((tmp_path / "tl" / state).glob("*.png"))
        assert len(files) == 4
        assert cv2.imread(str(files[0])).shape == (48, 48, 3)
    # Without --size each image comes at the size its framing gives it, as a camera's crops do.
    result = runner.invoke(app, ["data", "traffic-lights", str(tmp_path / "native"), "--per-class", "6"])
    assert result.exit_code == 0, result.output
    shapes = {cv2.imread(str(path)).shape for path in (tmp_path / "native").rglob("*.png")}
    assert len(shapes) > 10 and all(min(shape[:2]) >= 4 and max(shape[:2]) <= 200 for shape in shapes)
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
    # At night: a dark street, the whole frame as the truth's region, and a spell of flashing yellow.
    night = tmp_path / "night.avi"
    result = runner.invoke(app, ["data", "traffic-clip", str(night), "--seconds", "8", "--fps", "5", "--night", "--whole-frame"])
    assert result.exit_code == 0, result.output
    truth = json.loads(truth_path(night).read_text())
    assert truth["roi"] == [0, 0, 640, 480] and len(truth["flashing"]) == 1
    frames = cv2.VideoCapture(str(night))
    ok, frame = frames.read()
    assert ok and float(np.median(frame)) < 40  # most of a night frame is dark


def test_cycle_has_every_state_in_order():
    # red -> green -> yellow -> red, with one spell of flashing yellow or an outage (off) in it.
    for seed in range(5):
        states = cycle_states(500, 25.0, np.random.default_rng(seed))
        runs = [state for index, state in enumerate(states) if index == 0 or states[index - 1] != state]
        assert set(states) == set(STATES)
        first, last = runs.index("off"), len(runs) - 1 - runs[::-1].index("off")
        assert set(runs[first : last + 1]) <= {"off", "yellow"}
        following = {"red": "green", "green": "yellow", "yellow": "red"}
        for part in (runs[:first], runs[last + 1 :]):
            for previous, state in zip(part, part[1:], strict=False):
                assert following[previous] == state, (seed, runs)


def test_clip_truth_matches_frames(tmp_path):
    truth = write_clip(tmp_path / "c.avi", seconds=0.4, fps=10, seed=3)
    assert len(truth.states) == 4
    capture = cv2.VideoCapture(str(tmp_path / "c.avi"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 4 and frames[0].shape == (480, 640, 3)
    written = json.loads(truth_path(tmp_path / "c.avi").read_text())
    flashing = [list(span) for span in truth.flashing]
    assert written == {"fps": 10, "roi": list(truth.roi), "states": truth.states, "flashing": flashing}
    x, y, width, height = truth.roi
    assert 0 <= x < x + width <= 640 and 0 <= y < y + height <= 480


def test_a_framing_can_be_asked_for():
    # A tight crop follows the housing (most lights are vertical, about 1:2 to 1:3); a street scene is
    # framed by the camera, its sides within a factor of two of each other.
    def median_aspect(framing: str) -> float:
        images = [render_traffic_light(np.random.default_rng(seed), "off", framing=framing) for seed in range(15)]
        return float(np.median([image.shape[0] / image.shape[1] for image in images]))

    assert median_aspect("tight") > 1.5 > median_aspect("street")
    with pytest.raises(ValueError, match="framing must be one of"):
        render_traffic_light(np.random.default_rng(5), "off", framing="aerial")


def test_the_signal_marks_its_flashing_yellow_spells():
    from edgecls.datasets.traffic_lights import cycle_signal, cycle_states

    found = 0
    for seed in range(12):
        states, spans = cycle_signal(500, 25.0, np.random.default_rng(seed))
        assert states == cycle_states(500, 25.0, np.random.default_rng(seed))  # the same signal
        for start, end in spans:
            spell = states[start:end]
            assert set(spell) == {"yellow", "off"} and spell[0] == spell[-1] == "off"
            assert sum(a != b for a, b in zip(spell, spell[1:], strict=False)) >= 4  # lit and dark at least twice
            found += 1
    assert found >= 3


def test_a_run_is_scored_against_the_clip_truth(tmp_path):
    """One truth, written and read back, scores a run: a flashing spell's frames are right as
    flashing_yellow or as their own lamp, and the delays are the first flashing report and the first
    steady one after the spell, in seconds."""
    from edgecls.datasets.clips import ClipTruth, score_frames

    states = ["red"] * 4 + ["off", "yellow"] * 4 + ["green"] * 4
    ClipTruth(4.0, (1, 2, 3, 4), states, [(4, 12)]).write(tmp_path / "c.avi")
    truth = ClipTruth.read(tmp_path / "c.avi")
    assert truth.roi == (1, 2, 3, 4) and truth.flashing == [(4, 12)]
    reported = ["red"] * 4 + ["off", "yellow"] + ["flashing_yellow"] * 6 + ["flashing_yellow", "green", "green", "green"]
    frames = [{"frame": index, "label": states[index], "state": state} for index, state in enumerate(reported)]
    scores = score_frames(truth, frames)
    assert scores["clip_frame_accuracy"] == 1.0
    assert scores["clip_smoothed_accuracy"] == 15 / 16  # frame 12 still says flashing: wrong
    assert scores["clip_flashing_detected_s"] == 0.5 and scores["clip_flashing_cleared_s"] == 0.25
    assert scores["clip_state_recall"] == {"flashing_yellow": 0.75, "green": 0.75, "red": 1.0}  # the spell's first two said their lamp
    with pytest.raises(DataError, match="no ground truth"):
        ClipTruth.read(tmp_path / "other.avi")
