"""The traffic light itself on its own canvas: housing, lenses, the lit lamp as an emitter with its
halo and bloom (`LightLayers`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .common import LAMPS, STATES, _lamp_hue, _log_uniform


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
