"""serve-camera's processing rate with and without 400 idle HTTP clients holding connections open.

    python benchmarks/http_clients.py MODEL.onnx [--clients 400] [--frames 600] [--rounds 3]

Each round classifies the same generated 640x480 clip with `--http` on, once alone and once while
`--clients` sockets each hold half a request open and one viewer polls /state four times a second.
Prints fps per round, the live process's thread count, the slowest /state answer, and the medians.
"""

from __future__ import annotations

import json
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FrameSource

from common import model_arguments, open_model


def write_clip(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 480))
    rng = np.random.default_rng(0)
    for index in range(frames):
        frame = np.full((480, 640, 3), (index * 3) % 255, np.uint8)
        frame[100:300, 200:300] = rng.integers(0, 255, 3)
        writer.write(frame)
    writer.release()
    return path


def one_run(classifier, clip: Path, clients: int) -> dict:
    ports: list[int] = []  # the real port, from run_live's "serving http://127.0.0.1:PORT/" notice

    def on_status(message: str) -> None:
        if message.startswith("serving http://"):
            ports.append(int(message.split()[1].rstrip("/").rsplit(":", 1)[1]))

    sockets, slowest, threads = [], [0.0], [0]
    stop = threading.Event()

    def load() -> None:
        while not ports and not stop.is_set():
            time.sleep(0.01)
        if stop.is_set():
            return
        port = ports[0]
        for _ in range(clients):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"GET /sta")
            sockets.append(connection)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/state", timeout=5).read())
            except OSError:  # the run ended and its server closed
                return
            slowest[0] = max(slowest[0], time.perf_counter() - started)
            threads[0] = max(threads[0], threading.active_count())
            stop.wait(0.25)

    poller = threading.Thread(target=load, daemon=True)
    try:
        if clients:
            poller.start()
        source = FrameSource(parse_source(str(clip))).start()
        summary = run_live(classifier, source, LiveConfig(http="127.0.0.1:0"), on_status=on_status)
    finally:
        stop.set()
        for connection in sockets:
            connection.close()
    return {"fps": summary.fps, "threads": threads[0], "slowest_state_s": slowest[0]}


def main() -> None:
    args = model_arguments(__doc__, clients=400, frames=600, rounds=3)
    classifier = open_model(args.model)
    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(Path(folder) / "clip.avi", args.frames)
        alone, loaded = [], []
        for round_index in range(args.rounds):
            alone.append(one_run(classifier, clip, 0))
            loaded.append(one_run(classifier, clip, args.clients))
            print(
                f"round {round_index + 1}: alone {alone[-1]['fps']:.1f} fps; with {args.clients} idle clients "
                f"{loaded[-1]['fps']:.1f} fps, {loaded[-1]['threads']} threads, slowest /state "
                f"{loaded[-1]['slowest_state_s'] * 1000:.0f} ms"
            )
    base, busy = statistics.median(r["fps"] for r in alone), statistics.median(r["fps"] for r in loaded)
    print(f"median fps: alone {base:.1f}, with {args.clients} idle clients {busy:.1f} ({busy / base - 1:+.1%})")


if __name__ == "__main__":
    main()
