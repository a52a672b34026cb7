"""Cameras and ports on 127.0.0.1: an MJPEG camera looping encoded frames that can freeze
(`Camera`), one that dies and comes back on its port (`MjpegServer`), and a free port."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edgecls.runtime.live.http import LiveState, start_server

from .clips import BGR


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def encoded_frames(clip: Path, limit: int | None = None, quality: int = 95) -> list[bytes]:
    """The frames of `clip` (the first `limit`), each encoded as JPEG once."""
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while limit is None or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())
    return frames


class Camera:
    """An MJPEG-over-HTTP camera on 127.0.0.1 looping pre-encoded `frames` at `fps`; `feeding`
    cleared = frozen (the connection stays open, nothing is sent)."""

    def __init__(self, frames: list[bytes], fps: float = 25.0, max_clients: int = 32) -> None:
        self.frames, self.period = frames, 1.0 / fps
        self.live = LiveState()
        self.server = start_server("127.0.0.1:0", self.live, max_clients=max_clients)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        self.feeding = threading.Event()
        self.feeding.set()
        threading.Thread(target=self._feed, daemon=True).start()

    def _feed(self) -> None:
        index, next_at = 0, time.perf_counter()
        while not self.live.closed:
            if self.feeding.is_set():
                self.live.publish({}, self.frames[index % len(self.frames)])
                index += 1
            next_at += self.period
            time.sleep(max(0.0, next_at - time.perf_counter()))

    def close(self) -> None:
        self.live.close()
        self.server.shutdown()
        self.server.server_close()


class MjpegServer:
    """A local MJPEG-over-HTTP camera that can die and come back on the same port."""

    def __init__(self, port=0):
        self.live = LiveState()
        self.server = start_server(f"127.0.0.1:{port}", self.live)
        self.port = self.server.server_address[1]
        threading.Thread(target=self._feed, daemon=True).start()

    def _feed(self):
        frame = np.zeros((240, 320, 3), np.uint8)
        frame[:] = BGR["red"]
        count = 0
        while not self.live.closed:
            frame[:8, :8] = count % 256  # a camera's picture is never exactly the same twice
            self.live.publish({"state": "red"}, cv2.imencode(".jpg", frame)[1].tobytes())
            count += 1
            time.sleep(0.02)

    def kill(self):
        self.live.close()
        self.server.shutdown()
        self.server.server_close()


class MultipartCamera:
    """An MJPEG camera on loopback that serves `part(number)` (the bytes of one part: whole, broken,
    or a closing boundary) to every connection, one part every `period_s`, `count` parts in all."""

    def __init__(self, part, boundary: str = "frame", period_s: float = 0.002, count: int = 200) -> None:
        self.part, self.boundary, self.period_s, self.count = part, boundary, period_s, count
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/video"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.recv(4096)
            client.sendall(
                b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=" + self.boundary.encode() + b"\r\n\r\n"
            )
            for number in range(self.count):
                client.sendall(self.part(number))
                time.sleep(self.period_s)
        except OSError:
            pass
        finally:
            client.close()

    def close(self) -> None:
        self.listener.close()


def part(body: bytes, length: int | None = None) -> bytes:
    """One multipart part around `body`, with a Content-Length (possibly a false one) unless None."""
    head = b"--frame\r\nContent-Type: image/jpeg\r\n"
    if length is not None:
        head += b"Content-Length: " + str(length).encode() + b"\r\n"
    return head + b"\r\n" + body + b"\r\n"
