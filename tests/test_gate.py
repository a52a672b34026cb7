"""The change gate (runtime/gate.py): sensor noise and a flickering exposure are not change, a lamp
that lights is; the heartbeat; and in the live loop, the same reported states as classifying every
time, with fewer model runs, counted in the summary and on /metrics."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest
from helpers.clips import BGR

from edgecls.runtime import load_classifier
from edgecls.runtime.gate import ChangeGate
from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FrameSource


def housing(lamp: int | None, rng: np.random.Generator, gain: float = 1.0, noise: float = 6.0) -> np.ndarray:
    """A 60x150 dark housing with three lamps, lamp `lamp` lit (None: all dark), through a noisy sensor."""
    image = np.full((150, 60, 3), 40.0)
    for index in range(3):
        cv2.circle(image, (30, 25 + 50 * index), 18, (230, 230, 120) if index == lamp else (55, 55, 55), -1)
    image = image * gain + rng.normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def unchanged(gate: ChangeGate, region: np.ndarray, now: float) -> bool:
    """What the live loop does: reuse the gate's answer, or run "the model" (a sure answer)."""
    if gate.reuse(region, now) is not None:
        return True
    gate.classified(np.array([1.0]), now, reusable=True)
    return False


def test_noise_and_flicker_are_not_change_but_a_lamp_lighting_is():
    rng = np.random.default_rng(0)
    gate = ChangeGate(heartbeat_s=10.0)
    assert not unchanged(gate, housing(0, rng), 0.0)  # the first look is always classified
    for step in range(1, 40):  # noise, and the exposure wandering by 15% either way
        assert unchanged(gate, housing(0, rng, gain=1 + 0.15 * np.sin(step)), step * 0.1)
    assert not unchanged(gate, housing(1, rng), 4.0)  # another lamp lit: classified at once
    assert not unchanged(gate, housing(None, rng), 4.1)  # and every lamp dark
    assert unchanged(gate, housing(None, rng), 4.2)


def test_the_heartbeat_classifies_an_unchanged_region_and_zero_turns_the_gate_off():
    rng = np.random.default_rng(1)
    gate = ChangeGate(heartbeat_s=1.0)
    times = np.arange(0, 3.01, 0.2)
    classified = [t for t in times if not unchanged(gate, housing(2, rng), float(t))]
    assert classified == pytest.approx([0.0, 1.0, 2.0, 3.0])
    gate.reset()
    assert not unchanged(gate, housing(2, rng), 3.2)  # after a loss: classified again
    off = ChangeGate(heartbeat_s=0.0)
    assert not any(unchanged(off, housing(2, rng), t) for t in (0.0, 0.1, 0.2))


def test_a_flashing_lamp_reuses_the_answer_each_of_its_looks_got():
    """Lit and dark every half second: each look is classified once a heartbeat, not at every flip."""
    rng = np.random.default_rng(2)
    gate = ChangeGate(heartbeat_s=2.0)
    lit, dark = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    times = np.arange(0, 4.0, 0.1)
    runs = []
    for t in times:
        on = int(t * 2) % 2 == 0
        reused = gate.reuse(housing(1 if on else None, rng), float(t))
        if reused is None:
            runs.append(round(float(t), 1))
            gate.classified(lit if on else dark, float(t), reusable=True)
        else:
            assert reused is (lit if on else dark)  # never the other look's answer
    assert runs == [0.0, 0.5, 2.0, 2.5]  # each look once, then again after the heartbeat


def test_an_answer_not_reusable_is_not_remembered_and_the_other_looks_stay():
    rng = np.random.default_rng(3)
    gate = ChangeGate(heartbeat_s=5.0)
    assert not unchanged(gate, housing(0, rng), 0.0)
    assert gate.reuse(housing(0, rng), 0.1) is not None
    gate.reuse(housing(1, rng), 0.2)
    gate.classified(np.array([0.5]), 0.2, reusable=False)  # unsure: the next look like it runs the model
    assert gate.reuse(housing(1, rng), 0.3) is None
    gate.classified(np.array([0.6]), 0.3, reusable=False)
    assert gate.reuse(housing(0, rng), 0.4) is not None  # the other look is still remembered
    gate.classified(np.array([0.7]), 0.5, reusable=False)  # nothing pending: ignored
    assert gate.reuse(housing(0, rng), 0.6) is not None


def write_flickering_clip(path, states: list[str], size=(96, 72)) -> None:
    """A patch of the state's colour on a textured wall, through a noisy sensor whose exposure flickers."""
    rng = np.random.default_rng(3)
    wall = cv2.GaussianBlur(rng.integers(60, 160, (size[1], size[0], 3)).astype(np.float32), (7, 7), 0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, size)
    for index, state in enumerate(states):
        frame = wall.copy()
        frame[16:56, 28:68] = BGR[state]
        frame = frame * (1 + 0.1 * np.sin(index * 1.7)) + rng.normal(0, 5, frame.shape)
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()


@pytest.mark.parametrize("rate", [None, 5.0])
def test_gated_states_match_classifying_every_time_with_fewer_model_runs(color_model, tmp_path, rate):
    states = ["red"] * 70 + ["green"] * 45 + ["blue"] * 60 + ["red"] * 40
    clip = tmp_path / "flicker.avi"
    write_flickering_clip(clip, states)
    classifier = load_classifier(color_model, "cpu")

    def play(heartbeat_s: float):
        out = tmp_path / f"frames-{heartbeat_s}.jsonl"
        source = FrameSource(parse_source(str(clip)), classify_fps=rate).start()
        config = LiveConfig(smooth=3, roi=(24, 12, 48, 48), jsonl=out, heartbeat_s=heartbeat_s)
        summary = run_live(classifier, source, config)
        return summary, [json.loads(line) for line in out.read_text().splitlines()]

    plain_summary, plain = play(0.0)
    summary, gated = play(1.0)
    assert plain_summary.gated == 0 and plain_summary.inferences == len(plain)
    assert [frame["frame"] for frame in gated] == [frame["frame"] for frame in plain]
    same = sum(a["state"] == b["state"] for a, b in zip(plain, gated, strict=True)) / len(plain)
    assert same >= 0.995
    assert summary.inferences + summary.gated == len(gated)
    # Four steady spells of 1.6-2.8 s: besides the first look and each change, one run a second.
    assert summary.inferences <= 4 * 2 + 2 * len(states) / 25 and summary.gated >= len(gated) / 2
    assert label_changes(gated) == label_changes(plain)  # each change classified at the same frame


def label_changes(frames: list[dict]) -> list[int]:
    return [frame["frame"] for previous, frame in itertools.pairwise(frames) if frame["label"] != previous["label"]]


def test_an_unsure_light_is_classified_every_time(color_model, tmp_path):
    """A grey patch: the colour model's answer is a near tie, so no output stands in for the next."""
    clip = tmp_path / "grey.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (64, 48))
    rng = np.random.default_rng(4)
    for _ in range(40):
        writer.write(np.clip(128 + rng.normal(0, 2, (48, 64, 3)), 0, 255).astype(np.uint8))
    writer.release()
    source = FrameSource(parse_source(str(clip))).start()
    summary = run_live(load_classifier(color_model, "cpu"), source, LiveConfig(heartbeat_s=5.0))
    assert summary.processed == 40 and summary.inferences == 40 and summary.gated == 0
