"""An MJPEG camera on loopback that cuts one part in N short (its Content-Length promises the whole
part and more): frames read per second and connections needed, edgecls' own reader against FFmpeg's.

    python benchmarks/broken_stream.py [--frames 600] [--every 20]

The camera sends a 640x480 JPEG part as fast as the reader takes it; each reader reads `--frames`
pictures, reopening the stream whenever its read fails (immediately: the live service would also
wait its reconnect backoff, from 0.5 s). Prints, per reader and with and without broken parts, the
rate, the connections opened and the parts stepped over.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's complaint about each broken part

import cv2  # noqa: E402 - after its log level is in the environment
import numpy as np  # noqa: E402

from edgecls.runtime.mjpeg import MjpegCapture  # noqa: E402


def serve(body: bytes, every: int) -> tuple[socket.socket, str]:
    """A camera on loopback sending `body` as every part, every `every`-th one cut in half (0: none)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def one(client: socket.socket) -> None:
        header = b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n"
        try:
            client.recv(4096)
            client.sendall(header)
            for number in range(1_000_000):
                cut = every and number % every == every // 2
                data = body[: len(body) // 2] if cut else body
                length = len(body) + 5000 if cut else len(body)
                client.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % length + data + b"\r\n")
        except OSError:
            pass
        finally:
            client.close()

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/video"


def read(url: str, reader: str, frames: int) -> tuple[float, int, int]:
    """Pictures a second, connections opened, broken parts stepped over."""
    started, count, connections, skipped = time.perf_counter(), 0, 0, 0
    while count < frames and time.perf_counter() - started < 60:
        capture = MjpegCapture(url, 2, 2) if reader == "edgecls" else cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        connections += 1
        while count < frames:
            ok, _ = capture.read()
            if not ok:
                break
            count += 1
        skipped += getattr(capture, "skipped", 0)
        capture.release()
    return count / (time.perf_counter() - started), connections, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--every", type=int, default=20, help="one part in this many is cut short")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    picture = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), np.uint8), (9, 9), 0)
    body = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    print(f"640x480 JPEG parts of {len(body)} bytes, {args.frames} pictures per reader")
    print(f"{'broken parts':<14}{'reader':<9}{'pictures/s':>11}{'connections':>13}{'stepped over':>14}")
    for every in (0, args.every):
        for reader in ("edgecls", "ffmpeg"):
            listener, url = serve(body, every)
            rate, connections, skipped = read(url, reader, args.frames)
            listener.close()
            label = f"1 in {every}" if every else "none"
            print(f"{label:<14}{reader:<9}{rate:>11.0f}{connections:>13}{skipped:>14}")


if __name__ == "__main__":
    main()
