"""Image files built byte by byte for tests: bombs, EXIF orientation, solid colours."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


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


def encode(suffix: str, image: np.ndarray) -> bytes:
    """`image` (BGR, as for cv2.imwrite) encoded in the format of `suffix`."""
    ok, encoded = cv2.imencode(suffix, image)
    assert ok
    return encoded.tobytes()
