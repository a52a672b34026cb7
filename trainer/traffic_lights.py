"""A traffic-light renderer (numpy and OpenCV only): built-in data for the demo and the tests.

Each image shows one traffic light in a state (red, yellow or green) over a varied background:
housings of varied size, colour, orientation, position and tilt; the lit lamp bright with a glow,
the others dim; gradients, textures, clutter and photo-like noise behind; then lighting, blur,
sensor noise and JPEG artefacts. The variety is there so a model learns "which lamp is lit", not
this renderer's habits.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecls.console import Progress
from edgecls.files import atomic_path, write_text_atomic

STATES = ("red", "yellow", "green")
LAMP_ORDER = ("red", "yellow", "green")  # top to bottom (vertical), left to right (horizontal)


def _lit_color(rng: np.random.Generator, state: str) -> np.ndarray:
    """RGB of a lit lamp: real signals vary (incandescent, LED, amber vs yellow, blue-green)."""
    if state == "red":
        return np.array([255, rng.integers(0, 70), rng.integers(0, 60)], np.float32)
    if state == "yellow":
        return np.array([255, rng.integers(160, 220), rng.integers(0, 50)], np.float32)
    return np.array([rng.integers(0, 100), rng.integers(230, 256), rng.integers(100, 210)], np.float32)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Float RGB background: a sky-like gradient, a texture, a blurred photo-like field, or clutter."""
    kind = rng.choice(["gradient", "texture", "noise", "clutter"], p=[0.3, 0.25, 0.2, 0.25])
    top, bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    image = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1), np.float32)
    if kind in ("texture", "noise", "clutter"):
        for octave in (4, 8, 16, 32):
            cells = rng.uniform(-1, 1, (octave, octave, 3)).astype(np.float32)
            layer = cv2.resize(cells, (width, height), interpolation=cv2.INTER_CUBIC)
            image += layer * rng.uniform(10, 60) / (octave / 4) ** (0.5 if kind == "texture" else 1.0)
    if kind == "clutter":
        for _ in range(int(rng.integers(3, 14))):
            color = tuple(float(c) for c in rng.uniform(0, 255, 3) * rng.uniform(0.3, 0.9))
            shape = rng.integers(0, 3)
            x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
            size = int(rng.integers(width // 12, width // 2))
            if shape == 0:
                cv2.rectangle(image, (x, y), (x + size, y + int(size * rng.uniform(0.2, 2))), color, -1)
            elif shape == 1:
                cv2.circle(image, (x, y), size // 2, color, -1)
            else:
                end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
                cv2.line(image, (x, y), end, color, int(rng.integers(1, max(2, width // 20))))
    gray = image.mean(axis=2, keepdims=True)
    image = gray + (image - gray) * rng.uniform(0.15, 1.0)  # photographs are rarely this saturated
    # Strongly coloured things that are not the signal (a red car, brake lights, a green sign), so the
    # model learns to read the lit lamp in its housing rather than the colour of the scene.
    for _ in range(int(rng.poisson(1.2))):
        hue = rng.choice(["red", "orange", "yellow", "green"])
        color = {"red": (220, 30, 30), "orange": (240, 120, 20), "yellow": (230, 200, 40), "green": (40, 180, 70)}[hue]
        color = tuple(float(c) * rng.uniform(0.5, 1.0) for c in color)
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(max(2, width // 20), max(3, width // 3)))
        if rng.random() < 0.5:
            cv2.ellipse(
                image, (x, y), (size, int(size * rng.uniform(0.3, 1.0))), float(rng.uniform(0, 180)), 0, 360, color, -1
            )
        else:
            cv2.rectangle(image, (x, y), (x + size, y + int(size * rng.uniform(0.3, 1.5))), color, -1)
    return image


def _housing_color(rng: np.random.Generator) -> np.ndarray:
    choice = rng.random()
    if choice < 0.6:
        return np.full(3, rng.uniform(10, 70), np.float32)  # black / dark grey
    if choice < 0.8:
        return np.array([rng.uniform(150, 220), rng.uniform(130, 190), rng.uniform(0, 50)], np.float32)  # yellow
    return np.array([rng.uniform(20, 60), rng.uniform(50, 90), rng.uniform(20, 50)], np.float32)  # dark green


def _draw_lamp(canvas: np.ndarray, center: tuple[int, int], radius: int, color: np.ndarray, style: str) -> None:
    """One lamp: a filled disc, a square lens, or a disc of LED dots (as modern signals are)."""
    value = tuple(float(c) for c in color)
    if style == "square":
        cv2.rectangle(
            canvas, (center[0] - radius, center[1] - radius), (center[0] + radius, center[1] + radius), value, -1
        )
    elif style == "leds":
        step = max(2, radius // 3)
        for dy in range(-radius, radius + 1, step):
            for dx in range(-radius, radius + 1, step):
                if dx * dx + dy * dy <= radius * radius:
                    cv2.circle(canvas, (center[0] + dx, center[1] + dy), max(1, step // 2), value, -1)
    else:
        cv2.circle(canvas, center, radius, value, -1)


def pad_of(radius: int) -> int:
    """Transparent margin around a housing's canvas, room for the glow."""
    return radius * 2


def _draw_light(rng: np.random.Generator, state: str, radius: int, vertical: bool):
    """The light on its own canvas: (RGB float image, alpha mask, glow layer)."""
    gap = max(2, int(radius * rng.uniform(0.25, 0.6)))
    border = max(2, int(radius * rng.uniform(0.3, 0.7)))
    long_side = 3 * 2 * radius + 2 * gap + 2 * border
    short_side = 2 * radius + 2 * border
    height, width = (long_side, short_side) if vertical else (short_side, long_side)
    pad = pad_of(radius)
    canvas = np.zeros((height + 2 * pad, width + 2 * pad, 3), np.float32)
    alpha = np.zeros(canvas.shape[:2], np.float32)
    glow = np.zeros_like(canvas)
    housing = _housing_color(rng)
    corner = int(radius * rng.uniform(0.1, 0.9))
    x0, y0, x1, y1 = pad, pad, pad + width - 1, pad + height - 1
    for mask_target, value in ((canvas, tuple(float(c) for c in housing)), (alpha, 1.0)):
        cv2.rectangle(mask_target, (x0 + corner, y0), (x1 - corner, y1), value, -1)
        cv2.rectangle(mask_target, (x0, y0 + corner), (x1, y1 - corner), value, -1)
        for cx, cy in (
            (x0 + corner, y0 + corner),
            (x1 - corner, y0 + corner),
            (x0 + corner, y1 - corner),
            (x1 - corner, y1 - corner),
        ):
            cv2.circle(mask_target, (cx, cy), corner, value, -1)
    if rng.random() < 0.5:  # a lighter rim
        rim = tuple(float(min(255, c + rng.uniform(20, 60))) for c in housing)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), rim, max(1, radius // 8))
    elif rng.random() < 0.4:  # a back-plate with a white or yellow border, as many countries use
        border_color = (240.0, 240.0, 240.0) if rng.random() < 0.6 else (230.0, 200.0, 40.0)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), border_color, max(2, radius // 4))
    lamp_style = rng.choice(["disc", "disc", "leds", "square"])
    lamp_scale = rng.uniform(0.75, 1.0)
    for index, lamp in enumerate(LAMP_ORDER):
        offset = border + radius + index * (2 * radius + gap)
        center = (pad + border + radius, pad + offset) if vertical else (pad + offset, pad + border + radius)
        lit = lamp == state
        # Every lamp draws the same random numbers whichever is lit, so one seed gives the same light
        # in every state (the clip relies on it).
        color = _lit_color(rng, lamp)
        dim, hot_size, glow_size, glint = (
            rng.uniform(0.08, 0.3),
            rng.uniform(0.2, 0.6),
            rng.uniform(1.2, 2.2),
            rng.random(),
        )
        face = color if lit else color * dim + housing * 0.3
        _draw_lamp(canvas, center, int(radius * lamp_scale), face, lamp_style)
        if lit:
            if lamp_style == "disc":
                hot = color * 0.4 + 255 * 0.6
                cv2.circle(canvas, center, max(1, int(radius * hot_size)), tuple(float(c) for c in hot), -1)
            cv2.circle(glow, center, int(radius * glow_size), tuple(float(c) for c in color), -1)
        elif lamp_style == "disc" and glint < 0.3:  # sun phantom: an unlit lens catching light
            spot = (int(center[0] - radius * 0.4), int(center[1] - radius * 0.4))
            cv2.circle(canvas, spot, max(1, radius // 4), tuple(float(c) for c in face * 1.8 + 30), -1)
        if rng.random() < 0.5:  # visor over each lamp
            axes = (radius + border // 2, radius + border // 2)
            angle = 0 if vertical else 90
            cv2.ellipse(
                canvas, center, axes, angle, 180, 360, tuple(float(c) * 0.7 for c in housing), max(1, radius // 5)
            )
    sigma = radius * rng.uniform(0.6, 1.6)
    glow = cv2.GaussianBlur(glow, (0, 0), sigma) * rng.uniform(0.4, 1.0)
    return canvas, alpha, glow


def render_traffic_light(rng: np.random.Generator, state: str, size: int = 96) -> np.ndarray:
    """One RGB uint8 image (size x size) of a traffic light showing `state`."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, got {state!r}")
    image = _background(rng, size, size)
    vertical = rng.random() < 0.8
    target = rng.uniform(0.45, 0.95) * size  # long side of the housing
    radius = max(3, int(target / (6 + 2 * 0.4 + 2 * 0.5)))
    light, alpha, glow = _draw_light(rng, state, radius, vertical)
    angle = rng.uniform(-15, 15)
    scale = min(1.0, size * 0.98 / max(light.shape[:2]))
    height, width = light.shape[:2]
    # Keep the whole housing in the picture: which lamp is lit is read from its place in the housing.
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float32) - (width / 2, height / 2)
    turn = math.radians(angle)
    rotated = corners @ np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]], np.float32)
    half_w, half_h = (np.abs(rotated).max(axis=0) - pad_of(radius)) * scale
    cx = rng.uniform(min(half_w, size / 2), max(size - half_w, size / 2))
    cy = rng.uniform(min(half_h, size / 2), max(size - half_h, size / 2))
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    matrix[:, 2] += (cx - width / 2, cy - height / 2)
    warp = lambda layer: cv2.warpAffine(layer, matrix, (size, size), flags=cv2.INTER_LINEAR)  # noqa: E731
    light, alpha, glow = warp(light), warp(alpha)[..., None], warp(glow)
    if rng.random() < 0.5:  # a pole
        pole_color = tuple(float(c) for c in rng.uniform(30, 120, 3))
        bottom = int(cy + height * scale / 2)
        cv2.line(image, (int(cx), bottom), (int(cx + rng.uniform(-5, 5)), size), pole_color, max(2, radius // 2))
    image = image * (1 - alpha) + light * alpha + glow
    return _camera(rng, image)


def _camera(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Lighting, colour cast, blur, sensor noise and JPEG artefacts."""
    image = image * rng.uniform(0.55, 1.3) + rng.uniform(-25, 25)
    image = image * rng.uniform(0.92, 1.08, 3)  # white balance
    gamma = rng.uniform(0.75, 1.35)
    image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** gamma
    if rng.random() < 0.6:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.6))
    if rng.random() < 0.2:  # motion blur
        length = int(rng.integers(3, 8))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        image = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))
    image = image + rng.normal(0, rng.uniform(0, 12), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        quality = int(rng.integers(25, 95))
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return image


def write_dataset(out: Path, per_class: int = 300, seed: int = 0, size: int = 96) -> dict[str, int]:
    """red/, yellow/, green/ folders of PNG images under `out`; returns the count per class."""
    rng = np.random.default_rng(seed)
    counts = {}
    with Progress(per_class * len(STATES), "rendering traffic lights") as progress:
        for state in STATES:
            folder = out / state
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                image = render_traffic_light(rng, state, size)
                with atomic_path(folder / f"{state}_{index:05d}.png") as temporary:
                    cv2.imwrite(str(temporary), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                progress.update()
            counts[state] = per_class
    return counts


@dataclass(frozen=True)
class ClipTruth:
    fps: float
    roi: tuple[int, int, int, int]  # where the light is: X, Y, W, H
    states: list[str]  # per frame


def cycle_states(num_frames: int, fps: float, rng: np.random.Generator) -> list[str]:
    """A plausible signal cycle: red, green, yellow (short), red, ... with random durations."""
    durations = {"red": (2.0, 4.0), "green": (2.0, 4.0), "yellow": (0.8, 1.5)}
    order = ["red", "green", "yellow"]
    states, position = [], int(rng.integers(0, 3))
    while len(states) < num_frames:
        state = order[position % 3]
        states += [state] * max(1, int(rng.uniform(*durations[state]) * fps))
        position += 1
    return states[:num_frames]


def write_clip(
    out: Path, seconds: float = 12.0, fps: float = 25.0, size: tuple[int, int] = (640, 480), seed: int = 0
) -> ClipTruth:
    """A 640x480 clip of a traffic light cycling through its states over a slowly moving scene, and
    its ground truth (`<out>.truth.json`: fps, the light's ROI, the state of every frame)."""
    rng = np.random.default_rng(seed)
    width, height = size
    num_frames = int(seconds * fps)
    scene = _background(rng, height + 80, width + 160)
    roi_size = int(min(width, height) * rng.uniform(0.35, 0.5))
    roi = (
        int(rng.integers(20, width - roi_size - 20)),
        int(rng.integers(20, height - roi_size - 20)),
        roi_size,
        roi_size,
    )
    states = cycle_states(num_frames, fps, rng)
    light_seed = int(rng.integers(0, 2**31))
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if out.suffix.lower() == ".mp4" else "MJPG"))
    with atomic_path(out) as temporary:
        writer = cv2.VideoWriter(str(temporary), fourcc, fps, (width, height))
        with Progress(num_frames, "rendering clip") as progress:
            for index, state in enumerate(states):
                dx = int(80 + 60 * math.sin(index / fps * 0.4))
                dy = int(40 + 30 * math.cos(index / fps * 0.3))
                frame = scene[dy : dy + height, dx : dx + width].copy()
                # The same light for the whole clip (one seed): only which lamp is lit changes.
                light = render_traffic_light(np.random.default_rng(light_seed), state, roi_size)
                x, y, w, h = roi
                frame[y : y + h, x : x + w] = light
                frame = _camera(np.random.default_rng(seed * 100_003 + index), frame)
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                progress.update()
        writer.release()
    truth = ClipTruth(fps, roi, states)
    write_text_atomic(truth_path(out), json.dumps({"fps": fps, "roi": list(roi), "states": states}) + "\n")
    return truth


def truth_path(clip: Path) -> Path:
    return clip.with_name(clip.name + ".truth.json")
