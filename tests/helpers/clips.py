"""Small generated clips: whole frames of one colour per state (for the colour model of `onnx_models`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def write_clip(path: Path, states: list[str], size=(320, 240), fps=25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for state in states:
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:] = BGR[state]
        writer.write(frame)
    writer.release()
    return path


def write_noisy_clip(path: Path, bgr: tuple[int, int, int], frames: int = 50, size=(64, 48)) -> Path:
    """A clip of one colour with sensor noise (a real camera's picture is never the same twice)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        noisy = np.full((size[1], size[0], 3), bgr) + rng.integers(0, 9, (size[1], size[0], 3))
        writer.write(np.clip(noisy, 0, 255).astype(np.uint8))
    writer.release()
    return path
