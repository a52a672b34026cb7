"""A traffic-light renderer built around how a camera sees a lamp (numpy and OpenCV only): the
built-in data for the demo and the tests.

Each image shows one traffic light in a state: `red`, `yellow` or `green` (that lamp lit) or `off`
(every lamp dark: between the flashes of a flashing light, or an outage). What defines the class is
never varied: which lamp is lit, its colour family, and the lamp order (red on top, or at the left of
a horizontal light). Everything else is:

- The lamp as light, not paint. A lit lamp is an emitter from 1.5 times the scene's white (a dim LED
  on a bright day) to 100 times brighter, in the hue ranges real LEDs and bulbs have (red: deep red to
  orange-red or pinkish; yellow: amber to orange; green: blue-green to cyan), spread by the optics
  into a halo and bloom; many lamps fall off from a hot centre. The scene is rendered in linear light
  and the sensor clips each channel, so a bright lamp's core comes out white or nearly white and its
  colour lives in the halo and in a ring towards the rim, as in photographs. Visors hide up to half
  of a lens.
- Unlit lamps: dark grey to black lenses, a tint of their glass, sky reflected in their upper part.
- Housings: black, grey, yellow, dark green or painted another colour, rounded or square, with or
  without visors over the lamps and back plates (some with a white or yellow border); lamps as plain
  lenses, LED-dot arrays or arrows; vertical or horizontal.
- The scene: sky, foliage, buildings, poles, signs, strongly coloured surfaces and bright coloured
  lights of any hue (tail lights, neon, far signals), so the scene's colour never tells the state.
- Framing: a tight crop around the housing (as from a detector or an `--roi`), a looser crop, or a
  small light in a busy street scene (a fixed camera without `--roi`). Crops come at the size a
  camera gives them, often 15-100 pixels wide, so the model meets them upscaled and soft.
- The camera: exposure, white balance, haze, defocus and motion blur, sensor noise, saturation, a
  tone curve and JPEG compression, all at the crop's own resolution.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgecls.core.files import atomic_path, write_text_atomic
from edgecls.core.progress import track

STATES = ("red", "yellow", "green", "off")
LAMPS = ("red", "yellow", "green")  # top to bottom (vertical), left to right (horizontal)
FRAMINGS = ("tight", "loose", "street", "frame")
# Real crops come mostly from a detector or an ROI: tight and tall. `frame` is a fixed camera's whole
# 4:3 frame without an ROI, the light a small part of it: asked for by name only, since at 64 px its
# lamps are a pixel or two and the default mix learns crops better without it.
FRAMING_WEIGHTS = (0.72, 0.18, 0.1, 0.0)
NIGHT = 0.05  # the share of scenes at night: a black sky, street lamps, lit signs and windows
MAX_NATIVE = 200  # pixels: the longest side of a rendered image


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _lamp_hue(rng: np.random.Generator, lamp: str) -> np.ndarray:
    """Linear-light RGB of a lamp's emission, the brightest channel 1."""
    if lamp == "red":  # deep red .. orange-red; many LEDs come out pinkish (more blue than green)
        blue = rng.uniform(0.0, 0.05) if rng.random() < 0.4 else rng.uniform(0.05, 0.35)
        return np.array([1.0, rng.uniform(0.0, 0.1), blue], np.float32)
    if lamp == "yellow":  # orange through amber to yellow (display green 150-200 of 255)
        return np.array([1.0, rng.uniform(0.24, 0.62), rng.uniform(0.0, 0.07)], np.float32)
    # blue-green through cyan to a blue-white (photographs of green LEDs sit near 180-215 degrees),
    # and some a pure display green
    blue = rng.uniform(0.3, 1.5) if rng.random() < 0.85 else rng.uniform(0.0, 0.3)
    rgb = np.array([rng.uniform(0.0, 0.18), 1.0, blue], np.float32)
    return rgb / rgb.max()


def _fbm(rng: np.random.Generator, height: int, width: int, octaves=(3, 6, 12, 24), falloff: float = 0.6):
    """Smooth value noise in about [-1, 1], one channel."""
    field = np.zeros((height, width), np.float32)
    amplitude = 1.0
    for cells in octaves:
        grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
        field += cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC) * amplitude
        amplitude *= falloff
    return field / 1.6


# ----------------------------------------------------------------------------------------------- scene


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


# ----------------------------------------------------------------------------------------------- light


@dataclass
class LightLayers:
    """One traffic light on its own canvas, in linear light: `body` (housing, lenses) over the scene
    by `alpha`, then `emission` added (lit lamp, halo, bloom). `box` is the housing: x0, y0, x1, y1."""

    body: np.ndarray
    alpha: np.ndarray
    emission: np.ndarray
    box: tuple[int, int, int, int]


def _housing_color(rng: np.random.Generator) -> np.ndarray:
    choice = rng.random()
    if choice < 0.45:
        return np.full(3, _log_uniform(rng, 0.008, 0.08), np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    if choice < 0.6:  # yellow (North America)
        return np.array([0.55, 0.4, 0.03], np.float32) * rng.uniform(0.5, 1.3)
    if choice < 0.7:  # grey metal
        return np.full(3, rng.uniform(0.06, 0.2), np.float32)
    if choice < 0.82:  # light grey or silver, as pale as the sky behind it: the lamp's contrast is low
        return np.full(3, rng.uniform(0.2, 0.6), np.float32) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    if choice < 0.87:
        return np.array([0.02, 0.06, 0.03], np.float32) * rng.uniform(0.6, 1.6)  # dark green
    if choice < 0.92:  # blue (a red arrow on a blue housing)
        return np.array([0.02, 0.05, 0.25], np.float32) * rng.uniform(0.5, 1.5)
    # Painted any colour (orange, olive, blue, purple ...): a housing's colour never tells the state.
    hsv = np.array([[[rng.integers(0, 180), rng.integers(60, 230), rng.integers(60, 220)]]], np.uint8)
    return (cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0) ** 2.2


def _lens_mask(shape: tuple[int, int], center: tuple[float, float], radius: float, style: str, arrow: int):
    """Float mask of what emits when a lamp is lit: a disc (plain or with fresnel rings), LED dots,
    or an arrow pointing left, up, right or down (`arrow` 0..3)."""
    mask = np.zeros(shape, np.float32)
    cx, cy = center
    if style == "leds":
        step = max(1.5, radius / 3.5)
        dot = max(1, int(round(step * 0.38)))
        for dy in np.arange(-radius, radius + 0.1, step):
            for dx in np.arange(-radius, radius + 0.1, step):
                if dx * dx + dy * dy <= (radius * 0.95) ** 2:
                    cv2.circle(mask, (int(round(cx + dx)), int(round(cy + dy))), dot, 1.0, -1)
    elif style == "arrow":
        r = radius * 0.85
        points = np.array([[-1, 0], [0, -0.8], [0, -0.35], [0.9, -0.35], [0.9, 0.35], [0, 0.35], [0, 0.8]], np.float32)
        turn = math.pi / 2 * arrow
        rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]], np.float32)
        points = points @ rotation.T * r + (cx, cy)
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1.0)
    else:
        cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(radius)), 1.0, -1)
        if style == "fresnel":  # concentric rings of a glass lens
            yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
            rings = 0.85 + 0.15 * np.cos(np.hypot(xx - cx, yy - cy) / max(radius, 1.0) * 18)
            mask *= rings
    return mask


def render_light(rng: np.random.Generator, state: str, radius: float = 10.0) -> LightLayers:
    """One traffic light showing `state`, lamps of `radius` pixels. The random numbers drawn do not
    depend on the state, so one seed gives the same light in every state (the clip relies on it)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, got {state!r}")
    housing = _draw_housing(rng, radius)
    optics = _lamp_optics(rng, radius, housing.visor)
    emission = np.zeros_like(housing.body)
    for index, lamp in enumerate(LAMPS):
        _draw_lamp(rng, housing, optics, index, lit=lamp == state, lamp=lamp, emission=emission)
    box = (int(housing.x0), int(housing.y0), int(housing.x1), int(housing.y1))
    return LightLayers(housing.body, housing.alpha, emission, box)


@dataclass
class _Housing:
    """The drawn housing (body colour and coverage on a padded canvas) and where its lamps go."""

    body: np.ndarray
    alpha: np.ndarray
    radius: float
    vertical: bool
    gap: float
    border: float
    visor: bool
    visor_reach: float
    x0: float
    y0: float
    x1: float
    y1: float
    color: np.ndarray


def _draw_housing(rng: np.random.Generator, radius: float) -> _Housing:
    """Shape, back plate, colour and shading of the housing (the lamps come after)."""
    vertical = rng.random() < 0.82
    gap = radius * rng.uniform(0.15, 0.55)
    border = radius * rng.uniform(0.25, 0.7)
    long_side = 6 * radius + 2 * gap + 2 * border
    short_side = 2 * radius + 2 * border
    plate = rng.random() < 0.3
    plate_margin = radius * rng.uniform(0.6, 1.4) if plate else 0.0
    visor = rng.random() < 0.55
    visor_reach = radius * rng.uniform(0.15, 0.5) if visor else 0.0
    pad = int(radius * 3 + plate_margin)
    width, height = (short_side, long_side) if vertical else (long_side, short_side)
    canvas_shape = (int(height + 2 * pad), int(width + 2 * pad))
    body = np.zeros((*canvas_shape, 3), np.float32)
    alpha = np.zeros(canvas_shape, np.float32)
    x0, y0, x1, y1 = pad, pad, pad + width, pad + height
    housing = _housing_color(rng)
    shade = rng.uniform(0.5, 1.0)  # how much darker the lower part is (light from the sky)
    if plate:
        plate_color = np.full(3, rng.uniform(0.005, 0.05), np.float32)
        box = (x0 - plate_margin, y0 - plate_margin * 0.5, x1 + plate_margin, y1 + plate_margin * 0.5)
        _fill_rounded(body, alpha, box, plate_color, radius * rng.uniform(0, 0.6))
        if rng.random() < 0.5:  # a retroreflective border, white or yellow
            edge = np.array([0.8, 0.8, 0.8] if rng.random() < 0.6 else [0.7, 0.5, 0.03], np.float32)
            edge = edge * rng.uniform(0.5, 1.2)
            thick = max(1, int(radius * rng.uniform(0.12, 0.3)))
            corners = (int(box[0]), int(box[1])), (int(box[2]), int(box[3]))
            cv2.rectangle(body, *corners, tuple(float(c) for c in edge), thick)
    _fill_rounded(body, alpha, (x0, y0, x1, y1), housing, radius * rng.uniform(0.0, 0.9))
    # Light falls from above: the housing darkens towards the bottom (or the shadowed side).
    body *= np.linspace(1.0, shade, canvas_shape[0], dtype=np.float32)[:, None, None]
    return _Housing(body, alpha, radius, vertical, gap, border, visor, visor_reach, x0, y0, x1, y1, housing)


def _fill_rounded(body: np.ndarray, alpha: np.ndarray, box, color, rounded: float = 0.0) -> None:
    """A filled rectangle with corners of radius `rounded`, in `color` on body and 1 on alpha."""
    bx0, by0, bx1, by1 = (int(round(v)) for v in box)
    corner = int(min(rounded, (bx1 - bx0) / 2, (by1 - by0) / 2))
    value = tuple(float(c) for c in color)
    for target, v in ((body, value), (alpha, 1.0)):
        cv2.rectangle(target, (bx0 + corner, by0), (bx1 - corner, by1), v, -1)
        cv2.rectangle(target, (bx0, by0 + corner), (bx1, by1 - corner), v, -1)
        for cx, cy in (
            (bx0 + corner, by0 + corner),
            (bx1 - corner, by0 + corner),
            (bx0 + corner, by1 - corner),
            (bx1 - corner, by1 - corner),
        ):
            cv2.circle(target, (cx, cy), corner, v, -1)


def _lamp_optics(rng: np.random.Generator, radius: float, visor: bool) -> dict:
    """What every lamp of one light shares: lens style, exposure, the sensor's and the optics' spread."""
    optics = {
        "style": str(rng.choice(["disc", "disc", "fresnel", "leds", "leds", "arrow"], p=[0.25, 0.1, 0.15, 0.15, 0.1, 0.25])),
        "arrow": int(rng.integers(0, 4)),
        "lamp_radius": radius * rng.uniform(0.8, 0.98),
        # Emission over the scene's white: from a lamp that barely clips (a dim LED, a bright day)
        # to one whose whole core is white and whose colour is left only in the fringe, where the
        # lamp's position is what tells yellow from red.
        # Some are barely brighter than a white sky: a pale lamp in a washed-out scene.
        "brightness": float(
            rng.choice([_log_uniform(rng, 0.6, 1.2), _log_uniform(rng, 1.2, 40), _log_uniform(rng, 40, 100)], p=[0.15, 0.7, 0.15])
        ),
        "crosstalk": rng.uniform(0.04, 0.15),  # the sensor's colour filters overlap: red reaches G and B
    }
    optics["halo"] = (radius * rng.uniform(0.15, 0.7), rng.uniform(0.08, 0.6))
    optics["bloom"] = (radius * rng.uniform(1.2, 3.5), rng.uniform(0.01, 0.12))
    optics["profile"] = rng.uniform(0.0, 0.45)  # how much a lit lens dims towards its rim
    # A diffuser or the LED's own beam: many lamps fall off from a hot centre, so a bright one clips
    # white in the middle and keeps its colour only in a ring towards the rim.
    optics["hotspot"] = (rng.uniform(0.3, 0.8), rng.uniform(0.02, 0.2)) if rng.random() < 0.4 else None
    optics["occlude"] = rng.uniform(0.0, 0.55) if visor else 0.0  # the visor's underside over the lens top
    optics["sky"] = np.array([0.3, 0.4, 0.6], np.float32) * rng.uniform(0.0, 0.25)  # reflected in unlit lenses
    return optics


def _draw_lamp(
    rng: np.random.Generator, housing: _Housing, optics: dict, index: int, lit: bool, lamp: str, emission: np.ndarray
) -> None:
    """Lamp `index` of the housing: its lens (dark glass when unlit), its visor and, when `lit`, its light."""
    radius, lamp_radius, occlude = housing.radius, optics["lamp_radius"], optics["occlude"]
    half = int(math.ceil(lamp_radius)) + 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)  # one lamp's window
    offset = housing.border + radius + index * (2 * radius + housing.gap)
    if housing.vertical:
        center = (housing.x0 + housing.border + radius, housing.y0 + offset)
    else:
        center = (housing.x0 + offset, housing.y0 + housing.border + radius)
    cx, cy = int(round(center[0])), int(round(center[1]))
    window = (slice(cy - half, cy + half + 1), slice(cx - half, cx + half + 1))
    hue = _lamp_hue(rng, lamp)
    tint, dark = rng.uniform(0.0, 0.06), _log_uniform(rng, 0.005, 0.05)
    phantom = rng.uniform(0.0, 0.12) if rng.random() < 0.08 else 0.0  # sun low behind the camera
    distance = np.hypot(xx, yy) / max(lamp_radius, 1.0)
    lens = np.clip((1.0 - distance) * lamp_radius, 0, 1)[..., None]  # an anti-aliased disc
    # Unlit lens: dark glass with a trace of its colour, sky reflected in its upper half.
    upper = np.clip(-yy / max(lamp_radius, 1.0) + 0.3, 0, 1)[..., None]
    face = dark + hue * (tint + phantom) + optics["sky"] * upper
    if occlude > 0:  # the hood's underside hides the top of the lens
        hidden = (yy < -lamp_radius + 2 * lamp_radius * occlude)[..., None]
        face = np.where(hidden, housing.color * 0.5, face)
    body = housing.body
    body[window] = body[window] * (1 - lens) + face * lens
    if housing.visor:  # a hood over the lamp: an arc around its top, reaching past the housing's side
        axes = (int(round(lamp_radius + housing.visor_reach)), int(round(lamp_radius + housing.visor_reach)))
        thick = max(1, int(round(radius * 0.25)))
        color = tuple(float(c) for c in housing.color * rng.uniform(0.6, 1.3))
        for target, value in ((body, color), (housing.alpha, 1.0)):
            cv2.ellipse(target, (cx, cy), axes, 0, 180, 360, value, thick)
    if not lit:
        return
    emit = _lens_mask(yy.shape, (half, half), lamp_radius, optics["style"], optics["arrow"])
    emit *= 1.0 - optics["profile"] * np.clip(distance, 0, 1) ** 2
    if optics["hotspot"]:
        spread, floor = optics["hotspot"]
        emit *= floor + (1.0 - floor) * np.exp(-((distance / spread) ** 2))
    if occlude > 0:
        emit *= np.clip((yy + lamp_radius - 2 * lamp_radius * occlude) / 2 + 0.5, 0, 1)
    source = np.zeros(body.shape[:2], np.float32)
    source[window] = emit
    light = cv2.GaussianBlur(source, (0, 0), max(0.5, radius * 0.04))
    halo = cv2.GaussianBlur(source, (0, 0), optics["halo"][0]) * optics["halo"][1]
    bloom = cv2.GaussianBlur(source, (0, 0), optics["bloom"][0]) * optics["bloom"][1]
    crosstalk = optics["crosstalk"]
    sensed = hue * (1 - crosstalk) + crosstalk * hue.mean()
    emission += (light + halo + bloom)[..., None] * sensed * optics["brightness"]


# ----------------------------------------------------------------------------------------------- camera


def _camera_settings(rng: np.random.Generator) -> dict:
    """How one camera renders a scene; drawn once per image (or once per clip)."""
    warm = rng.uniform(-1, 1) if rng.random() < 0.6 else rng.uniform(-3.5, -1)  # many cameras cast blue
    return {
        # A third of real crops are overexposed daylight: the sky and a light housing clip to white.
        "exposure": _log_uniform(rng, 0.45, 1.6) if rng.random() < 0.8 else _log_uniform(rng, 1.3, 2.5),
        "balance": np.array([1 + 0.12 * warm, 1.0, 1 - 0.15 * warm], np.float32) * rng.uniform(0.95, 1.05, 3),
        "haze": rng.uniform(0.0, 0.35) if rng.random() < 0.35 else 0.0,
        "defocus": rng.uniform(0.0, 1.2) if rng.random() < 0.6 else 0.0,
        "motion": (int(rng.integers(2, 6)), rng.uniform(0, 180)) if rng.random() < 0.15 else None,
        "gamma": rng.uniform(1.8, 2.6),
        # Some cameras (and hazy or backlit scenes) wash colour out: then position tells the state.
        # Real crops are nearly grey (median saturation 0.08): most cameras give little colour, and
        # some almost none, so only the lamp's position tells the state.
        "saturation": float(rng.choice([rng.uniform(0.0, 0.25), rng.uniform(0.25, 0.7), rng.uniform(0.7, 1.6)], p=[0.08, 0.42, 0.5])),
        # Many sensors clip each raw channel before white balance, so a clipped lamp core takes the
        # balance's tint (a blue-white green, yellow or red lamp under a blue cast).
        "clip_before_balance": rng.random() < 0.5,
        "noise": rng.uniform(0.0, 0.035),
        "jpeg": int(rng.integers(25, 95)) if rng.random() < 0.75 else None,
    }


def _camera(rng: np.random.Generator, linear: np.ndarray, settings: dict) -> np.ndarray:
    """Linear RGB in (scene white = 1) -> uint8 RGB out, as a camera does it."""
    if settings.get("clip_before_balance"):
        image = np.minimum(linear * settings["exposure"], 1.0) * (settings["balance"] / settings["balance"].max())
    else:
        image = linear * settings["exposure"] * settings["balance"]
    if settings["haze"]:
        image = image * (1 - settings["haze"]) + settings["haze"] * np.array([0.7, 0.75, 0.8], np.float32)
    if settings["defocus"]:  # the optics spread light before the sensor clips it
        image = cv2.GaussianBlur(image, (0, 0), settings["defocus"])
    if settings["motion"]:
        length, angle = settings["motion"]
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0
        rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        image = cv2.filter2D(image, -1, (kernel / max(float(kernel.sum()), 1e-6)).astype(np.float32))
    image = np.clip(
        image
        + rng.standard_normal(image.shape, dtype=np.float32) * settings["noise"] * np.sqrt(np.clip(image, 0.02, 1)),
        0,
        1,
    )
    # The tone curve through a 16-bit table: far cheaper than a power per pixel on a 640x480 frame.
    tone = np.linspace(0, 1, 65536, dtype=np.float32) ** (1.0 / settings["gamma"])
    image = tone[(image * 65535).astype(np.uint16)]
    gray = image.mean(axis=2, keepdims=True)
    image = np.clip(gray + (image - gray) * settings["saturation"], 0, 1)
    image = (image * 255 + 0.5).astype(np.uint8)
    if settings["jpeg"]:
        ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, settings["jpeg"]])
        image = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR))[..., ::-1]
    return np.ascontiguousarray(image)


# ----------------------------------------------------------------------------------------------- framing


def _place(layers: LightLayers, matrix: np.ndarray, size: tuple[int, int]) -> LightLayers:
    """The light's layers warped by `matrix` (2x3) onto a canvas of `size` (width, height)."""
    warp = lambda layer: cv2.warpAffine(layer, matrix, size, flags=cv2.INTER_LINEAR)  # noqa: E731
    return LightLayers(warp(layers.body), warp(layers.alpha), warp(layers.emission), layers.box)


def _compose(scene: np.ndarray, placed: LightLayers) -> np.ndarray:
    """A placed light over the scene (both linear)."""
    alpha = placed.alpha[..., None]
    return scene * (1 - alpha) + placed.body * alpha + placed.emission


def _placement(rng: np.random.Generator, framing: str, layers: LightLayers) -> tuple[int, int, np.ndarray]:
    """The crop around the housing at the light's render scale: (width, height, 2x3 matrix that
    places the light canvas in it)."""
    x0, y0, x1, y1 = layers.box
    box_w, box_h = x1 - x0, y1 - y0
    if framing == "tight":  # as a detector's box or a tight --roi: a little sky, pole or wall around
        left, right = rng.uniform(-0.05, 0.5, 2) * box_w
        top, bottom = rng.uniform(-0.03, 0.3, 2) * box_h
        width, height = box_w + left + right, box_h + top + bottom
    else:  # the housing's share of the crop's long side
        fill = {"loose": rng.uniform(0.45, 0.8), "street": rng.uniform(0.3, 0.5), "frame": _log_uniform(rng, 0.2, 0.4)}[framing]
        long_side = max(box_w, box_h) / fill
        aspect = 4 / 3 if framing == "frame" else rng.uniform(0.75, 1.35)
        width, height = long_side * aspect, long_side / aspect
        width, height = max(width, box_w * 1.05), max(height, box_h * 1.05)
        left = rng.uniform(0.02, 0.98) * (width - box_w)
        top = rng.uniform(0.02, 0.98) * (height - box_h)
    angle = rng.normal(0, 3.0)
    matrix = cv2.getRotationMatrix2D(((x0 + x1) / 2, (y0 + y1) / 2), angle, 1.0)
    matrix[:, 2] += (left - x0, top - y0)
    return max(4, int(round(width))), max(4, int(round(height))), matrix


def render_traffic_light(
    rng: np.random.Generator, state: str, size: int | None = None, framing: str | None = None
) -> np.ndarray:
    """One RGB uint8 image of a traffic light showing `state`, framed as a camera would give it:
    at its own resolution (often a few dozen pixels wide), or stretched to `size` x `size`.
    `framing` (one of FRAMINGS) is drawn with FRAMING_WEIGHTS unless given."""
    if framing is None:
        framing = str(rng.choice(FRAMINGS, p=FRAMING_WEIGHTS))
    elif framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    layers = render_light(rng, state, radius=10.0)
    width, height, matrix = _placement(rng, framing, layers)
    x0, y0, x1, y1 = layers.box
    housing_width = _log_uniform(rng, 10, 80) if framing == "tight" else _log_uniform(rng, 8, 60)
    # Render at the camera's resolution: the light's canvas shrinks to it (area-averaged, as a
    # sensor integrates), the scene is drawn at it. Larger than MAX_NATIVE adds nothing at model size.
    scale = min(housing_width / min(x1 - x0, y1 - y0), MAX_NATIVE / max(width, height))
    native = (max(4, int(round(width * scale))), max(4, int(round(height * scale))))
    body, alpha, emission = (
        np.asarray(cv2.resize(layer, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        for layer in (layers.body, layers.alpha, layers.emission)
    )
    light = LightLayers(body, alpha, emission, box=layers.box)
    matrix = matrix.copy()
    matrix[:, 2] *= scale
    busy = {"tight": 0.1, "loose": 0.4, "street": 0.9, "frame": 1.0}[framing]
    scene = _scene(rng, native[1], native[0], busy, scale=(x1 - x0) * scale)
    linear = _compose(scene, _place(light, matrix, native))
    image = _camera(rng, linear, _camera_settings(rng))
    if size is not None:
        from edgecls.runtime.images import resize_image

        image = resize_image(image, (size, size))
    return image


def _write_images(folder: Path, state: str, indices: range, seed: int, size: int | None) -> int:
    """Render and write images `indices` of one class; each image has its own seed, so the result does
    not depend on how the work is split between processes."""
    for index in indices:
        rng = np.random.default_rng([seed, STATES.index(state), index])
        image = render_traffic_light(rng, state, size)
        with atomic_path(folder / f"{state}_{index:05d}.png") as temporary:
            cv2.imwrite(str(temporary), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return len(indices)


def write_dataset(
    out: Path, per_class: int = 300, seed: int = 0, size: int | None = None, workers: int | None = None
) -> dict[str, int]:
    """red/, yellow/, green/ and off/ folders of PNG images under `out`; returns the count per class.
    `size` None keeps each image at the size its framing gives it. Renders on `workers` processes
    (default: one per usable CPU)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    chunk = 50
    jobs = []
    for state in STATES:
        (out / state).mkdir(parents=True, exist_ok=True)
        jobs += [
            (out / state, state, range(i, min(i + chunk, per_class)), seed, size) for i in range(0, per_class, chunk)
        ]
    with track(per_class * len(STATES), "rendering traffic lights") as progress:
        if workers <= 1:
            for job in jobs:
                progress.update(_write_images(*job))
        else:
            # spawn, not fork: the caller may hold TensorFlow's threads, which a fork can deadlock
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for done in pool.map(_write_images, *zip(*jobs, strict=True)):
                    progress.update(done)
    return {state: per_class for state in STATES}


# ----------------------------------------------------------------------------------------------- clip


@dataclass(frozen=True)
class ClipTruth:
    fps: float
    roi: tuple[int, int, int, int]  # where the light is: X, Y, W, H
    states: list[str]  # per frame
    flashing: list[tuple[int, int]] = field(default_factory=list)  # [start, end) frames of flashing yellow


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
) -> ClipTruth:
    """A clip from a fixed street camera watching one traffic light cycle through its states, the
    scene drifting slightly, and its ground truth (`<out>.truth.json`: fps, the light's ROI, the
    state of every frame). The camera is drawn once; only its sensor noise changes per frame.
    `night` True: a night street with lamps and lit signs, and a spell of flashing yellow among them;
    `whole_frame`: the ROI is the whole frame (a camera classified without `--roi`)."""
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
                dx = int(80 + 60 * math.sin(index / fps * 0.4))
                dy = int(40 + 30 * math.cos(index / fps * 0.3))
                frame = _compose(scene[dy : dy + height, dx : dx + width], placed[state])
                frame = _camera(np.random.default_rng(seed * 100_003 + index), frame, settings)
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                progress.update()
        writer.release()
    if whole_frame:
        roi = (0, 0, width, height)
    truth = ClipTruth(fps, roi, states, flashing)
    document = {"fps": fps, "roi": list(roi), "states": states, "flashing": [list(span) for span in flashing]}
    write_text_atomic(truth_path(out), json.dumps(document) + "\n")
    return truth


def truth_path(clip: Path) -> Path:
    return clip.with_name(clip.name + ".truth.json")
