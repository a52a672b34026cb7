"""Image decoding and the resize rule: one implementation shared by training and serving.

`load_image` turns any file OpenCV can decode (detected by content, never by extension) into an
RGB uint8 array; `resize_image` applies the contract's resize rule. The trainer calls the same two
functions, so a model sees the same pixels in training and on the device.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from edgecls.core.limits import DEFAULT_MAX_PIXELS, MAX_FILE_BYTES, bound_opencv_decoder

bound_opencv_decoder()  # before OpenCV loads, when nothing (the CLI) has set it from --max-pixels

import cv2  # noqa: E402 - after its limit is in the environment
import numpy as np  # noqa: E402

from edgecls.core.errors import ImageError  # noqa: E402

RESIZE_RULE = "stretch"
"""The contract's resize rule: the whole image is resized to the model's H x W, aspect ratio not kept
(what Keras' `flow_from_directory` does), with area interpolation when shrinking and bilinear when
enlarging."""


def quiet_opencv_logs() -> None:
    """Keep OpenCV's and FFmpeg's own warnings ("PNG input buffer is incomplete", "connection refused")
    off the terminal: edgecls reports each failure itself, in one line naming the file or source.
    Changes process-wide settings, so the CLI calls it when a command starts, never at import."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when FFmpeg opens its first capture
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)


def probe_image_size(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """Width and height promised by an image's header, without decoding it.

    `data` is the whole file: a JPEG's frame header may follow any amount of comment or metadata
    segments, and a TIFF's directory may sit anywhere (libtiff writes it at the end). Knows PNG,
    JPEG, GIF, BMP, WebP, TIFF and PNM; returns None for other formats or unreadable headers.
    """
    view = (np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data).data.cast("B")
    head = bytes(view[:32])
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return width, height
        if head[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", head[6:10])
            return width, height
        if head.startswith(b"BM"):
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return _probe_webp(head)
        if head.startswith(b"\xff\xd8"):
            return _probe_jpeg(view)
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _probe_tiff(view)
        if head[:1] == b"P" and head[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6"):
            return _probe_pnm(bytes(view[:4096]))
    except (struct.error, ValueError, IndexError):
        return None
    return None


def _probe_jpeg(data: memoryview) -> tuple[int, int] | None:
    """Follow the marker chain from segment to segment until a start-of-frame. Real files have a few
    dozen segments; after 10,000 the probe gives up (a file built to stall it) and OpenCV's own limit
    still holds."""
    offset, segments = 2, 0
    while offset + 4 <= len(data) and segments < 10_000:
        segments += 1
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or entropy-coded data: no frame header before it
            return None
        (length,) = struct.unpack_from(">H", data, offset + 2)
        # Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack_from(">HH", data, offset + 5)
            return width, height
        offset += 2 + length
    return None


def _probe_webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _probe_tiff(data: memoryview) -> tuple[int, int] | None:
    """The first image directory's width and height tags, wherever in the file it is."""
    endian = "<" if bytes(data[:2]) == b"II" else ">"
    (ifd,) = struct.unpack_from(endian + "I", data, 4)
    (count,) = struct.unpack_from(endian + "H", data, ifd)
    size: dict[int, int] = {}
    for index in range(count):
        entry = ifd + 2 + 12 * index
        tag, kind = struct.unpack_from(endian + "HH", data, entry)
        if tag in (256, 257):
            (size[tag],) = struct.unpack_from(endian + ("H" if kind == 3 else "I"), data, entry + 8)
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None


def _probe_pnm(data: bytes) -> tuple[int, int] | None:
    """P1-P6: magic, then width and height as text, with comments allowed between."""
    fields = []
    for line in data[2:].split(b"\n"):
        fields += line.split(b"#")[0].split()
        if len(fields) >= 2:
            return int(fields[0]), int(fields[1])
    return None


def load_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file into an RGB uint8 array of shape (H, W, 3).

    The format is detected from the content. Gray and 16-bit images are converted, an alpha
    channel is dropped, and the EXIF orientation is applied. An image whose header promises more
    than `max_pixels` pixels is refused before any pixel memory is allocated.

    Raises:
        ImageError: the file is missing, unreadable, not an image, truncated or too large. The
            message names the file and the reason.
    """
    path = Path(path)
    return decode_image(read_image_file(path), name=str(path), max_pixels=max_pixels)


def read_image_file(path: Path) -> np.ndarray:
    """The bytes of an image file, after the checks that name what is wrong with it (missing, broken
    symlink, folder, empty, implausibly large).

    Raises:
        ImageError: naming the file and the reason.
    """
    try:
        status = path.stat()
    except FileNotFoundError:
        kind = "a broken symlink" if path.is_symlink() else "not found"
        raise ImageError(f"{path}: {kind}") from None
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror})") from None
    if stat.S_ISDIR(status.st_mode):
        raise ImageError(f"{path}: is a folder, not an image")
    if not stat.S_ISREG(status.st_mode):  # never opened: reading a FIFO or a device can block forever
        raise ImageError(f"{path}: not a regular file ({file_kind(status.st_mode)})")
    size = status.st_size
    if size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{path}: file is {size / 2**20:.0f} MiB, larger than any image edgecls accepts")
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror or error})") from None


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def decode_image(data: bytes | np.ndarray, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes (see `load_image`); `name` is used in error messages."""
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    promised = probe_image_size(buffer)
    if promised is not None:
        width, height = promised
        if width * height > max_pixels:
            raise ImageError(
                f"{name}: header says {width}x{height} = {width * height / 1e6:.0f} megapixels, "
                f"over the limit of {max_pixels / 1e6:.0f} megapixels (refused before decoding; "
                "raise it with `max_pixels` if the image is genuine)"
            )
    # Formats the probe does not know still meet OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS, set
    # from --max-pixels), checked on the header before any pixel memory is allocated.
    # IMREAD_COLOR applies EXIF orientation, drops alpha and scales 16-bit to 8-bit.
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    except cv2.error as error:
        if "CV_IO_MAX_IMAGE" in str(error):
            raise ImageError(
                f"{name}: larger than the limit of {max_pixels / 1e6:.0f} megapixels (refused by the decoder "
                "before decoding; raise it with `max_pixels` if the image is genuine)"
            ) from None
        raise ImageError(f"{name}: not decodable ({str(error).strip().splitlines()[-1][:120]})") from None
    if image is None:
        raise ImageError(f"{name}: {_why_undecodable(buffer)}")
    if promised is None and image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: {image.shape[1]}x{image.shape[0]} is over the limit of {max_pixels} pixels")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _why_undecodable(buffer: np.ndarray) -> str:
    head = buffer[:16].tobytes()
    known = (b"\x89PNG", b"\xff\xd8", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")
    if any(head.startswith(magic) for magic in known):
        return "not decodable (truncated or corrupt image data)"
    if head.lstrip()[:1] in (b"<", b"{", b"[") or all(32 <= byte < 127 or byte in (9, 10, 13) for byte in head):
        return "not an image (looks like a text file)"
    return "not an image (unknown or unsupported format)"


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Apply the contract's resize rule: stretch an (H, W, 3) image to `size` = (height, width)."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[0] * image.shape[1] > height * width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def load_and_resize(
    path: str | os.PathLike[str], size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """`load_image` then `resize_image`: the pixels a model of input size `size` sees for `path`."""
    return resize_image(load_image(path, max_pixels=max_pixels), size)
