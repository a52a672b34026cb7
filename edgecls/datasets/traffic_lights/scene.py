"""The scene behind a traffic light, in linear light: sky, buildings, foliage, street things,
coloured surfaces and lights that are not signals; at night, dark but for what shines."""

from __future__ import annotations

import cv2
import numpy as np

from .common import NIGHT, _fbm, _log_uniform


def _sky(rng: np.random.Generator, height: int, width: int, night: bool | None = None) -> tuple[np.ndarray, bool]:
    """Linear RGB sky: clear blue to a whiter horizon, overcast grey, dusk or night (`night` True or
    False decides it); clouds. Returns the sky and whether it is night."""
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    kind = rng.random()
    if night is not None:
        kind = 1 - NIGHT / 2 if night else kind * (1 - NIGHT)
    if kind < 0.4:  # clear
        zenith = np.array([0.12, 0.3, 0.85], np.float32) * rng.uniform(0.5, 1.1)
        horizon = np.array([0.6, 0.72, 0.95], np.float32) * rng.uniform(0.7, 1.2)
    elif kind < 0.75:  # overcast
        level = rng.uniform(0.35, 1.2) if rng.random() < 0.55 else rng.uniform(0.8, 1.6)  # a white sky
        zenith = np.full(3, level, np.float32) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
        horizon = zenith * rng.uniform(0.9, 1.2)
    elif kind < 1 - NIGHT:  # dusk or a dull evening
        zenith = np.array([0.05, 0.07, 0.2], np.float32) * rng.uniform(0.3, 1.5)
        horizon = np.array([0.6, 0.35, 0.2], np.float32) * rng.uniform(0.3, 1.2)
    else:  # night: the sky all but black
        zenith = np.array([0.004, 0.006, 0.015], np.float32) * rng.uniform(0.3, 3.0)
        horizon = zenith * rng.uniform(1.0, 4.0)
    flip = rng.random() < 0.3  # not every crop has the zenith on top
    ramp = ramp[::-1] if flip else ramp
    sky = zenith * (1 - ramp) + horizon * ramp
    sky = sky * np.ones((1, width, 1), np.float32)
    if rng.random() < 0.6:
        clouds = np.clip(_fbm(rng, height, width) * rng.uniform(0.6, 1.5) + rng.uniform(-0.3, 0.4), 0, 1)[..., None]
        sky = sky * (1 - clouds) + clouds * rng.uniform(0.6, 1.3) * (zenith.mean() if kind >= 1 - NIGHT else 1.0)
    return sky, kind >= 1 - NIGHT


def _trees(rng: np.random.Generator, canvas: np.ndarray, amount: float) -> None:
    """Foliage: textured greens and browns over part of the canvas, in place."""
    height, width = canvas.shape[:2]
    mask = _fbm(rng, height, width, (2, 4, 8, 16, 32), 0.7) + rng.uniform(-0.2, 0.4) + (amount - 0.5)
    mask = np.clip(mask * 4, 0, 1)[..., None]
    leaf = np.array([rng.uniform(0.02, 0.12), rng.uniform(0.05, 0.22), rng.uniform(0.01, 0.06)], np.float32)
    texture = 0.5 + np.clip(_fbm(rng, height, width, (16, 32, 48), 0.9), -1, 1)[..., None] * 0.6
    canvas[:] = canvas * (1 - mask) + leaf * texture * mask


def _building(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A facade with windows over a random part of the canvas, in place."""
    height, width = canvas.shape[:2]
    x0 = int(rng.uniform(-0.3, 0.7) * width)
    y0 = int(rng.uniform(-0.2, 0.6) * height)
    x1, y1 = x0 + int(rng.uniform(0.3, 1.2) * width), height + 10
    wall = (rng.uniform(0.05, 0.6, 3) * rng.uniform(0.6, 1.0, 1)).astype(np.float32)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), tuple(float(c) for c in wall), -1)
    step_x, step_y = max(3, int(rng.uniform(0.06, 0.2) * width)), max(3, int(rng.uniform(0.06, 0.2) * height))
    window = wall * rng.uniform(0.2, 0.7) if rng.random() < 0.6 else np.float32(rng.uniform(0.3, 0.9)) * np.ones(3)
    for y in range(y0 + step_y // 3, y1, step_y):
        for x in range(x0 + step_x // 3, x1, step_x):
            cv2.rectangle(canvas, (x, y), (x + step_x // 2, y + step_y // 2), tuple(float(c) for c in window), -1)


def _street_things(rng: np.random.Generator, canvas: np.ndarray, scale: float) -> None:
    """What shares a street with a traffic light: poles, wires, signs, cars with tail lights, in place.
    `scale` is a typical object size in pixels. Strong colours here teach the model to read the
    lamp in its housing rather than the colour of the scene."""
    height, width = canvas.shape[:2]
    for _ in range(int(rng.integers(0, 3))):  # poles and wires
        color = tuple(float(c) for c in rng.uniform(0.02, 0.3, 1).repeat(3))
        x = int(rng.uniform(0, width))
        cv2.line(canvas, (x, 0), (x + int(rng.uniform(-0.1, 0.1) * width), height), color, max(1, int(scale * 0.15)))
    for _ in range(int(rng.integers(0, 3))):
        y = int(rng.uniform(0, height))
        cv2.line(canvas, (0, y), (width, y + int(rng.uniform(-0.3, 0.3) * height)), (0.03, 0.03, 0.03), 1)
    for _ in range(int(rng.poisson(1.0))):  # signs: green, blue, red, white, yellow
        color = [(0.02, 0.25, 0.08), (0.02, 0.08, 0.4), (0.5, 0.02, 0.02), (0.8, 0.8, 0.8), (0.7, 0.5, 0.02)][
            int(rng.integers(0, 5))
        ]
        x, y = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        w, h = int(scale * rng.uniform(0.5, 2.5)), int(scale * rng.uniform(0.4, 1.5))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), tuple(c * rng.uniform(0.6, 1.3) for c in color), -1)
    for _ in range(int(rng.poisson(0.8))):  # a car with its tail lights (bright red, sometimes amber)
        x, y = int(rng.uniform(-0.2, 1) * width), int(rng.uniform(0.5, 1.0) * height)
        w, h = int(scale * rng.uniform(2, 5)), int(scale * rng.uniform(0.8, 2))
        body = tuple(float(c) for c in rng.uniform(0.02, 0.6, 3))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), body, -1)
        lamp = (rng.uniform(2, 8), rng.uniform(0.0, 0.3), rng.uniform(0.0, 0.1))
        radius = max(1, int(scale * rng.uniform(0.1, 0.3)))
        for lx in (x + radius * 2, x + w - radius * 2):
            cv2.circle(canvas, (lx, y + h // 3), radius, lamp, -1)


def _colour_field(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A strongly coloured surface behind the light (a red wall, an orange awning, a painted sign,
    foliage in the sun), of any hue, over part of the canvas, in place: the scene's colour must never
    tell the state."""
    height, width = canvas.shape[:2]
    # Half of them warm (red, orange, brown, yellow: brick, cars, awnings, autumn leaves), the hues a
    # model would otherwise take for a lit red or yellow lamp.
    hue = rng.integers(0, 180) if rng.random() < 0.5 else (rng.integers(-8, 28) % 180)
    hsv = np.array([[[hue, rng.integers(140, 256), rng.integers(120, 256)]]], np.uint8)
    color = (cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0) ** 2.2
    mask = np.clip(_fbm(rng, height, width, (2, 4, 8)) * 3 + rng.uniform(-0.5, 1.5), 0, 1)[..., None]
    texture = 1.0 + 0.3 * _fbm(rng, height, width, (8, 16))[..., None]
    canvas[:] = canvas * (1 - mask) + color * texture * mask


def _glows(rng: np.random.Generator, canvas: np.ndarray, scale: float, street_lamps: bool = False) -> None:
    """Bright coloured lights in the scene (shop signs, neon, headlights and tail lights, other
    signals far away), of any hue, often out of focus, in place: a red glow behind a dark housing
    is not a red light. `street_lamps`: at night, mostly big amber and yellow-white sodium and LED
    lamps, as bright as a signal (a dark phase among them is still dark)."""
    height, width = canvas.shape[:2]
    glow = np.zeros_like(canvas)
    for _ in range(int(rng.integers(1, 4)) + (int(rng.integers(1, 5)) if street_lamps else 0)):
        hue = rng.integers(0, 180) if rng.random() < 0.5 else (rng.integers(-8, 70) % 180)
        if street_lamps and rng.random() < 0.7:
            hue = rng.integers(10, 30)  # sodium amber to yellow
        hsv = np.array([[[hue, rng.integers(120, 256), 255]]], np.uint8)
        color = (cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0) ** 2.2
        center = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        radius = max(1, int(scale * _log_uniform(rng, 0.05, 0.4)))
        cv2.circle(glow, center, radius, tuple(float(c) * _log_uniform(rng, 1.0, 8.0) for c in color), -1)
    sigma = max(0.5, scale * rng.uniform(0.02, 0.2))
    canvas += cv2.GaussianBlur(glow, (0, 0), sigma)


def _scene(
    rng: np.random.Generator, height: int, width: int, busy: float, scale: float, night: bool | None = None
) -> np.ndarray:
    """Linear RGB background: sky, with foliage, buildings and street things as `busy` (0..1) grows;
    at night (drawn, or as `night` says) all of it dark but for street lamps and other lights."""
    canvas, night = _sky(rng, height, width, night)
    if rng.random() < 0.25 + 0.6 * busy:
        _building(rng, canvas)
    if rng.random() < 0.3 + 0.4 * busy:
        _trees(rng, canvas, rng.uniform(0.1, 0.6 + 0.4 * busy))
    for chance in (0.45, 0.2):  # one or two: a red car before an orange wall
        if rng.random() < chance:
            _colour_field(rng, canvas)
    if night:  # whatever was drawn is in the dark, but for what shines
        canvas *= rng.uniform(0.02, 0.15)
    if rng.random() < (0.85 if night else 0.3):
        _glows(rng, canvas, scale, street_lamps=night)
    if busy > 0.3 or rng.random() < 0.3:
        _street_things(rng, canvas, scale)
    return canvas
