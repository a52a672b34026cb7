"""The classes, the lamps' order, the framings and the small draws every part shares."""

from __future__ import annotations

import math

import cv2
import numpy as np

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
