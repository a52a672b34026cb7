from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from image_files import encode, png_header_only, solid
from onnx_models import color_classifier


@pytest.fixture
def color_model(tmp_path: Path) -> Path:
    return color_classifier(tmp_path / "colors.onnx")


@pytest.fixture
def messy_folder(tmp_path: Path) -> tuple[Path, dict[str, str | None]]:
    """A folder of good and bad images. Returns it and, per file, the expected label (None: an error)."""
    root = tmp_path / "messy images"
    nested = root / "level one" / "level two"
    nested.mkdir(parents=True)
    expected: dict[str, str | None] = {}

    def write(relative: str, data: bytes, label: str | None) -> None:
        path = root / relative
        path.write_bytes(data)
        expected[str(path)] = label

    write("red.png", encode(".png", solid((250, 10, 10))), "red")
    write("green photo.jpg", encode(".jpg", solid((10, 240, 10))), "green")
    write("bleu café.png", encode(".png", solid((5, 5, 250))), "blue")
    write("level one/level two/deep red.bmp", encode(".bmp", solid((200, 0, 0))), "red")
    write("gray.png", encode(".png", np.full((20, 20), 128, np.uint8)), None)  # gray: label is a tie
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 1] = 255  # BGRA: green, opaque
    rgba[..., 3] = 255
    write("rgba.png", encode(".png", rgba), "green")
    sixteen = np.zeros((16, 16, 3), np.uint16)
    sixteen[..., 0] = 60000  # BGR: blue
    write("sixteen bit.png", encode(".png", sixteen), "blue")
    write("one pixel.png", encode(".png", solid((255, 0, 0), 1, 1)), "red")
    write("wide.png", encode(".png", solid((0, 255, 0), 3, 3000)), "green")
    os.symlink(root / "red.png", root / "link to red.png")
    expected[str(root / "link to red.png")] = "red"
    expected[str(root / "gray.png")] = "gray-ok"

    write("empty.jpg", b"", None)
    write("notes.jpg", b"these are my notes, not a picture\n", None)
    truncated = encode(".jpg", (np.random.default_rng(0).integers(0, 255, (64, 64, 3))).astype(np.uint8))
    write("truncated.jpg", truncated[: len(truncated) // 3], None)
    write("random.png", np.random.default_rng(1).integers(0, 255, 4096, dtype=np.uint8).tobytes(), None)
    write("bomb.png", png_header_only(40000, 40000), None)
    os.symlink(root / "does not exist.png", root / "broken link.png")
    expected[str(root / "broken link.png")] = None
    return root, expected
