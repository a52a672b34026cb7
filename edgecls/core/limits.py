"""Input limits shared by every command, in a module that imports nothing heavy: OpenCV reads its own
decode limit from the environment once, when it loads, so the CLI must set it before `import cv2`."""

from __future__ import annotations

import os

# Pillow's decompression-bomb threshold: about a 9,500 x 9,500 image, 256 MiB decoded as RGB.
DEFAULT_MAX_PIXELS = 89_478_485
# No supported image format is this large in practice; refuse before reading it into memory.
MAX_FILE_BYTES = 512 * 1024 * 1024
OPENCV_PIXELS_ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"


def bound_opencv_decoder(max_pixels: int = DEFAULT_MAX_PIXELS, override: bool = False) -> None:
    """Make OpenCV refuse, before allocating, any image over `max_pixels`: the bound for formats
    whose header edgecls cannot read itself. Takes effect only before OpenCV is first imported."""
    if override:
        os.environ[OPENCV_PIXELS_ENV] = str(max_pixels)
    else:
        os.environ.setdefault(OPENCV_PIXELS_ENV, str(max_pixels))


def max_pixels_from_argv(argv: list[str]) -> int | None:
    """The value of --max-pixels on a command line, if one is given and is a number."""
    for index, argument in enumerate(argv):
        value = None
        if argument == "--max-pixels" and index + 1 < len(argv):
            value = argv[index + 1]
        elif argument.startswith("--max-pixels="):
            value = argument.split("=", 1)[1]
        if value is not None and value.isdigit():
            return int(value)
    return None
