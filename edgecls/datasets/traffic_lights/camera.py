"""The camera: exposure, white balance, clipping, haze, blur, noise, tone curve and JPEG, at the
crop's own resolution."""

from __future__ import annotations

import cv2
import numpy as np

from .common import _log_uniform


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
