from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgecls.core.errors import ImageError
from edgecls.runtime.images import decode_image, load_image, probe_image_size, resize_image

from image_files import encode, jpeg_bomb, jpeg_with_orientation, png_header_only, solid, tiff_bomb


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tiff"])
def test_probe_reads_size_from_header(suffix):
    image = solid((1, 2, 3), height=37, width=53)
    assert probe_image_size(encode(suffix, image)[:65536]) == (53, 37)


def test_color_is_rgb_and_content_decides_format(tmp_path):
    path = tmp_path / "actually a png.jpg"
    path.write_bytes(encode(".png", solid((255, 0, 0))))
    image = load_image(path)
    assert image.dtype == np.uint8 and image.shape == (24, 24, 3)
    assert tuple(image[0, 0]) == (255, 0, 0)


def test_gray_rgba_and_16_bit_become_rgb_uint8(tmp_path):
    gray = tmp_path / "gray.png"
    gray.write_bytes(encode(".png", np.full((5, 7), 77, np.uint8)))
    rgba = tmp_path / "rgba.png"
    rgba.write_bytes(encode(".png", np.dstack([np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 9, np.uint8)])))
    deep = tmp_path / "deep.png"
    deep.write_bytes(encode(".png", np.full((3, 3, 3), 65535, np.uint16)))
    for path, value in ((gray, 77), (rgba, 0), (deep, 255)):
        image = load_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert int(image[0, 0, 0]) == value


def test_exif_orientation_is_applied(tmp_path):
    image = np.zeros((20, 40, 3), np.uint8)  # wide: 40 x 20
    image[:, :20] = (0, 0, 255)  # red on the left (BGR)
    path = tmp_path / "rotated.jpg"
    path.write_bytes(jpeg_with_orientation(image, orientation=6))  # 6: rotate 90 degrees clockwise
    decoded = load_image(path)
    assert decoded.shape[:2] == (40, 20)
    assert decoded[2, 10, 0] > 200  # red now on top


def test_non_ascii_and_space_paths(tmp_path):
    folder = tmp_path / "données été" / "日本"
    folder.mkdir(parents=True)
    path = folder / "my photo ü.png"
    path.write_bytes(encode(".png", solid((0, 0, 255))))
    assert tuple(load_image(path)[0, 0]) == (0, 0, 255)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(40000, 40000))
    with pytest.raises(ImageError, match="40000x40000.*over the limit"):
        load_image(path)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"just some words\n", "looks like a text file"),
        (bytes(range(256)) * 4, "unknown or unsupported format"),
    ],
)
def test_bad_files_name_file_and_reason(tmp_path, data, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert str(path) in str(caught.value) and reason in str(caught.value)


def test_truncated_jpeg_and_missing_files(tmp_path):
    data = encode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8))
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 4], name="cut.jpg")
    (tmp_path / "link.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(ImageError, match="broken symlink"):
        load_image(tmp_path / "link.png")
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "never.png")


def test_resize_rule_stretches_to_height_width():
    image = np.zeros((10, 300, 3), np.uint8)
    assert resize_image(image, (32, 48)).shape == (32, 48, 3)
    tiny = np.full((1, 1, 3), 200, np.uint8)
    assert (resize_image(tiny, (8, 8)) == 200).all()
    same = np.zeros((8, 8, 3), np.uint8)
    assert resize_image(same, (8, 8)) is same


def test_size_is_read_from_the_whole_header_before_any_decoding(tmp_path):
    # A JPEG whose frame header follows 128 KB of comments, and a TIFF whose directory is at its end:
    # both refused from their headers, before OpenCV allocates 1.2 GB for their pixels.
    for name, data in (("late.jpg", jpeg_bomb()), ("late.tif", tiff_bomb())):
        assert probe_image_size(data) == (20000, 20000), name
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImageError, match="20000x20000.*over the limit"):
            load_image(path)


def test_opencv_bounds_formats_the_probe_cannot_read(tmp_path):
    # Sun raster: edgecls reads no size from it, so OpenCV's own limit (set from --max-pixels before
    # it loads) is what refuses it.
    ok, encoded = cv2.imencode(".ras", np.zeros((40, 40, 3), np.uint8))
    assert ok and probe_image_size(encoded.tobytes()) is None
    (tmp_path / "big.ras").write_bytes(encoded.tobytes())
    # A JPEG built to stall a marker walk: 200,000 empty segments before its frame header. The probe
    # gives up quickly; OpenCV's limit refuses it from the header.
    bomb = jpeg_bomb(40, 40, comments_kib=0)
    (tmp_path / "stall.jpg").write_bytes(bomb[:2] + b"\xff\xfe\x00\x02" * 200_000 + bomb[2:])
    script = (
        "import sys; from edgecls.core.limits import bound_opencv_decoder; bound_opencv_decoder(1000, override=True)\n"
        "from edgecls.runtime.images import load_image\n"
        "from edgecls.core.errors import ImageError\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n        load_image(path, max_pixels=1000)\n    except ImageError as error:\n        print(error)\n"
    )
    paths = [str(tmp_path / "big.ras"), str(tmp_path / "stall.jpg")]
    out = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all("refused by the decoder" in line for line in lines), out.stdout + out.stderr


def test_fifos_and_devices_are_not_opened(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a regular file \\(a FIFO\\)"):
        load_image(fifo)  # opening it would block until a writer came
    with pytest.raises(ImageError, match="a character device"):
        load_image("/dev/zero")
