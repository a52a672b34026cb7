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
