from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from onnx_models import color_classifier  # noqa: E402


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR promises width x height pixels, followed by a scrap of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\x00" * 1000)
    return data + struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))


def jpeg_with_orientation(image_bgr: np.ndarray, orientation: int) -> bytes:
    """A JPEG carrying an EXIF APP1 segment with the given orientation tag."""
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    data = encoded.tobytes()
    return data[:2] + app1 + data[2:]


def solid(color_rgb: tuple[int, int, int], height: int = 24, width: int = 24) -> np.ndarray:
    """A solid image in OpenCV's BGR order, for cv2.imwrite."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = color_rgb[::-1]
    return image


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

    def encode(suffix: str, image: np.ndarray) -> bytes:
        ok, encoded = cv2.imencode(suffix, image)
        assert ok
        return encoded.tobytes()

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


def jpeg_bomb(width: int = 20000, height: int = 20000, comments_kib: int = 128) -> bytes:
    """A real JPEG with `comments_kib` of comment segments before its frame header, which is patched
    to promise `width` x `height`: a probe that reads only the start of the file misses the size."""
    ok, encoded = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    data = encoded.tobytes()
    comment = b"\xff\xfe" + struct.pack(">H", 65000) + b"x" * 64998
    data = data[:2] + comment * (comments_kib * 1024 // 65000 + 1) + data[2:]
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def tiff_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A TIFF whose image directory comes after its pixel data, at the end, as libtiff writes it."""
    pixels = b"\x00" * 4096
    ifd_offset = 8 + len(pixels)
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8),
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, width * height),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHI", tag, kind, count) + (
            struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        )
    return b"II*\x00" + struct.pack("<I", ifd_offset) + pixels + ifd + b"\x00\x00\x00\x00"
