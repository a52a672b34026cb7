"""The MJPEG reader against a camera on loopback that sends broken parts: cut short, garbage, no
Content-Length, a closing boundary."""

from __future__ import annotations

import socket
import threading
import time

import cv2
import numpy as np
import pytest
from helpers.loopback import MultipartCamera, part

from edgecls.runtime.mjpeg import MjpegCapture
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FrameSource


def jpeg(value: int) -> bytes:
    picture = np.full((48, 64, 3), value % 256, np.uint8)
    picture[:4, :4] = (value * 7) % 256
    return cv2.imencode(".jpg", picture)[1].tobytes()


def read_all(url: str) -> tuple[list[int], int]:
    """Every picture's mean value on one connection, and the broken parts stepped over."""
    capture = MjpegCapture(url, 2.0, 2.0)
    assert capture.isOpened()
    values = []
    while True:
        ok, image = capture.read()
        if not ok:
            return values, capture.skipped
        values.append(int(image[10:, 10:].mean().round()))


def test_a_part_that_promises_more_than_it_sends_is_stepped_over_not_a_reconnect():
    """One part in twenty is cut off half-way while its Content-Length promises the whole and more:
    the reader finds the next boundary inside it, skips the part, and keeps the connection."""

    def send(number: int) -> bytes:
        body = jpeg(number)
        if number % 20 == 7:
            return part(body[: len(body) // 2], length=len(body) + 5000)
        return part(body, length=len(body))

    camera = MultipartCamera(send, count=200)
    try:
        values, skipped = read_all(camera.url)
    finally:
        camera.close()
    expected = [number % 256 for number in range(200) if number % 20 != 7]
    assert skipped == 10 and camera.connections == 1
    assert [abs(value - want) <= 2 for value, want in zip(values, expected, strict=True)] == [True] * 190


@pytest.mark.parametrize("framing", ["no length", "short length", "garbage"])
def test_other_broken_parts_are_stepped_over(framing):
    def send(number: int) -> bytes:
        body = jpeg(number)
        if number % 10 == 3:
            if framing == "garbage":
                return part(b"\x00not a picture" * 50, length=700)
            if framing == "short length":  # says less than it has: the rest is not a picture
                return part(body, length=len(body) // 3)
        return part(body, length=None if framing == "no length" else len(body))

    camera = MultipartCamera(send, count=60)
    try:
        values, skipped = read_all(camera.url)
    finally:
        camera.close()
    broken = 0 if framing == "no length" else 6
    assert skipped == broken and len(values) == 60 - broken


def test_a_camera_that_sends_its_boundary_without_dashes_is_read():
    def send(number: int) -> bytes:
        body = jpeg(number)
        return b"frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body) + body + b"\r\n"

    camera = MultipartCamera(send, count=20)
    try:
        values, skipped = read_all(camera.url)
    finally:
        camera.close()
    assert len(values) == 20 and skipped == 0


def test_frame_source_counts_broken_parts_and_reconnects_only_when_the_stream_ends():
    def send(number: int) -> bytes:
        body = jpeg(number)
        if number == 99:
            return b"--frame--\r\n"  # the camera closes the stream: this connection is over
        if number % 20 == 7:
            return part(body[: len(body) // 2], length=len(body) + 5000)
        return part(body, length=len(body))

    camera = MultipartCamera(send, count=100, period_s=0.005)
    source = FrameSource(parse_source(camera.url), open_timeout_s=2, read_timeout_s=2, max_backoff_s=0.5).start()
    try:
        deadline = time.perf_counter() + 20
        while camera.connections < 2 and time.perf_counter() < deadline:
            source.get(0.1)
    finally:
        source.stop()
        camera.close()
    assert camera.connections >= 2 and source.stats.reconnects >= 1
    assert source.stats.skipped >= 5  # the first connection's five broken parts, counted, not reconnected for


def test_a_url_that_is_not_a_multipart_stream_is_left_to_ffmpeg():
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        client, _ = listener.accept()
        client.recv(4096)
        client.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\n\r\n#EXTM3U\n")
        client.close()

    threading.Thread(target=answer, daemon=True).start()
    capture = MjpegCapture(f"http://127.0.0.1:{listener.getsockname()[1]}/live.m3u8", 2.0, 2.0)
    listener.close()
    assert capture.answered and not capture.is_mjpeg and not capture.isOpened()
    nobody = MjpegCapture("http://127.0.0.1:9/video", 1.0, 1.0)
    assert not nobody.answered and not nobody.isOpened()
