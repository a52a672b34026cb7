"""Clips from a fixed street camera watching one light cycle through its states, with their ground
truth (`write_clip`; the truth's format is `edgecls.datasets.clips`)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from edgecls.core.files import atomic_path
from edgecls.core.progress import track
from edgecls.datasets.clips import ClipTruth

from .camera import _camera, _camera_settings
from .common import STATES
from .images import _compose, _place
from .light import render_light
from .scene import _scene


def cycle_states(num_frames: int, fps: float, rng: np.random.Generator) -> list[str]:
    """A plausible signal: red, green, yellow (short), red, ... with random durations, and a spell of
    flashing yellow (yellow and off alternating about once a second) or an outage (off)."""
    return cycle_signal(num_frames, fps, rng)[0]


def cycle_signal(
    num_frames: int, fps: float, rng: np.random.Generator, flashing_spell: bool | None = None
) -> tuple[list[str], list[tuple[int, int]]]:
    """`cycle_states`, and where its flashing yellow is: [start, end) frames (none for an outage).
    The spell is flashing yellow (60%) or an outage, or as `flashing_spell` says."""
    flashing: list[tuple[int, int]] = []
    durations = {"red": (2.0, 4.0), "green": (2.0, 4.0), "yellow": (0.8, 1.5)}
    order = ["red", "green", "yellow"]
    states: list[str] = []
    position = int(rng.integers(0, 3))
    special_at: int | None = int(rng.integers(0, max(1, num_frames // 2)))
    while len(states) < num_frames:
        if special_at is not None and len(states) >= special_at:
            special_at = None
            flash = rng.random() < 0.6
            if flash if flashing_spell is None else flashing_spell:  # flashing yellow
                start = len(states)
                for _ in range(int(rng.integers(2, 4))):
                    states += ["off"] * max(1, int(0.5 * fps)) + ["yellow"] * max(1, int(0.5 * fps))
                states += ["off"] * max(1, int(0.5 * fps))
                flashing.append((start, min(len(states), num_frames)))
            else:
                states += ["off"] * max(1, int(rng.uniform(1.0, 2.0) * fps))
            continue
        state = order[position % 3]
        states += [state] * max(1, int(rng.uniform(*durations[state]) * fps))
        position += 1
    return states[:num_frames], [(start, end) for start, end in flashing if start < num_frames]


def write_clip(
    out: Path,
    seconds: float = 12.0,
    fps: float = 25.0,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    night: bool | None = None,
    whole_frame: bool = False,
    drift: bool = True,
    flicker: float = 0.0,
) -> ClipTruth:
    """A clip from a fixed street camera watching one traffic light cycle through its states, the
    scene drifting slightly, and its ground truth (`<out>.truth.json`: fps, the light's ROI, the
    state of every frame). The camera is drawn once; only its sensor noise changes per frame.
    `night` True: a night street with lamps and lit signs, and a spell of flashing yellow among them;
    `whole_frame`: the ROI is the whole frame (a camera classified without `--roi`); `drift` False:
    a camera on a rigid mount (only the light and the noise change); `flicker`: each frame's exposure
    off by up to this share (mains lighting beating with the frame rate, an auto-exposure hunting)."""
    rng = np.random.default_rng(seed)
    width, height = size
    num_frames = int(seconds * fps)
    roi_size = int(min(width, height) * rng.uniform(0.3, 0.45))
    roi = (
        int(rng.integers(20, width - roi_size - 20)),
        int(rng.integers(20, height - roi_size - 20)),
        roi_size,
        roi_size,
    )
    scene = _scene(rng, height + 80, width + 160, busy=0.8, scale=roi_size / 6, night=night)
    states, flashing = cycle_signal(num_frames, fps, rng, flashing_spell=True if night else None)
    light_seed = int(rng.integers(0, 2**31))
    radius = roi_size / 9
    layers_by_state = {state: render_light(np.random.default_rng(light_seed), state, radius) for state in STATES}
    x0, y0, x1, y1 = layers_by_state["off"].box  # the same housing in every state
    scale = rng.uniform(0.6, 0.85) * roi_size / max(x1 - x0, y1 - y0)
    center = ((x0 + x1) / 2, (y0 + y1) / 2)
    matrix = cv2.getRotationMatrix2D(center, 0.0, scale)
    matrix[:, 2] += np.array([roi[0] + roi_size / 2 - center[0], roi[1] + roi_size / 2 - center[1]])
    placed = {state: _place(layers, matrix, size) for state, layers in layers_by_state.items()}
    settings = _camera_settings(rng)
    fourcc = cv2.VideoWriter.fourcc(*("mp4v" if out.suffix.lower() == ".mp4" else "MJPG"))
    with atomic_path(out) as temporary:
        writer = cv2.VideoWriter(str(temporary), fourcc, fps, (width, height))
        with track(num_frames, "rendering clip") as progress:
            for index, state in enumerate(states):
                moment = index if drift else 0
                dx = int(80 + 60 * math.sin(moment / fps * 0.4))
                dy = int(40 + 30 * math.cos(moment / fps * 0.3))
                frame = _compose(scene[dy : dy + height, dx : dx + width], placed[state])
                if flicker:
                    frame = frame * np.float32(1 + flicker * math.sin(2 * math.pi * 0.37 * index + 1.3 * math.sin(index)))
                frame = _camera(np.random.default_rng(seed * 100_003 + index), frame, settings)
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                progress.update()
        writer.release()
    if whole_frame:
        roi = (0, 0, width, height)
    truth = ClipTruth(fps, roi, states, flashing)
    truth.write(out)
    return truth
