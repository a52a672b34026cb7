"""Pictures of the live state: one light's banner over its frame, or every light of a camera boxed."""

from __future__ import annotations

import cv2
import numpy as np

from edgecls.runtime.smoothing import UNKNOWN

STATE_COLORS_BGR = {"red": (40, 40, 230), "yellow": (0, 210, 250), "green": (60, 200, 60), UNKNOWN: (200, 200, 200)}


def draw_overlay(image: np.ndarray, state: str, score: float, fps: float, provider: str, roi) -> np.ndarray:
    """The frame with the smoothed state, score, fps and provider drawn on a banner (a copy)."""
    canvas = image.copy()
    color = STATE_COLORS_BGR.get(state.removeprefix("flashing_"), (255, 255, 255))
    height, width = canvas.shape[:2]
    scale = max(0.5, width / 900)
    banner = int(36 * scale)
    cv2.rectangle(canvas, (0, 0), (width, banner), (20, 20, 20), thickness=-1)
    text = f"{state.upper()} {score:.2f}"
    cv2.putText(canvas, text, (8, int(26 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, color, 2, cv2.LINE_AA)
    info = f"{fps:5.1f} fps  {provider}"
    (text_width, _), _ = cv2.getTextSize(info, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
    cv2.putText(
        canvas,
        info,
        (width - text_width - 8, int(24 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.5 * scale,
        (230, 230, 230),
        1,
        cv2.LINE_AA,
    )
    if roi is not None:
        x, y, w, h = roi
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, 2)
    return canvas


def draw_lights(image: np.ndarray, lights: list[tuple[str, tuple[int, int, int, int] | None, str, float]]) -> np.ndarray:
    """A camera's frame with each light's region boxed in its state's colour and labelled with its
    name, state and score (a copy): the view of one camera among several."""
    canvas = image.copy()
    height, width = canvas.shape[:2]
    scale = max(0.4, width / 1400)
    for name, roi, state, score in lights:
        color = STATE_COLORS_BGR.get(state.removeprefix("flashing_"), (255, 255, 255))
        x, y, w, h = roi if roi is not None else (0, 0, width, height)
        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), color, 2)
        label = f"{name}: {state} {score:.2f}"
        (text_width, text_height), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y - text_height - 6)
        cv2.rectangle(canvas, (x, top), (x + text_width + 6, top + text_height + 6), (20, 20, 20), -1)
        cv2.putText(canvas, label, (x + 3, top + text_height + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)
    return canvas
