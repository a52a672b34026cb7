"""Screenshots of serve-camera's live page in a real browser (headless Chromium), in four conditions:
live, source stalled, source back, server stopped. Open them and look.

    python benchmarks/live_page.py MODEL.onnx CLIP.avi OUT_DIR [--roi X,Y,W,H] [--cameras N]

A local MJPEG camera plays CLIP (looping) for `serve-camera --http`; the camera then stops sending
(the connection stays open: a frozen camera), resumes, and finally serve-camera is stopped with
SIGTERM. With `--cameras N`, N such cameras (one light each, inside the ROI) run from a cameras file
and only the second one freezes. The browser keeps the page open throughout (Chrome DevTools protocol), as a viewer would.
Needs Debian's `chromium` and `pip install websocket-client` (the `bench` extra).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2

from edgecls.runtime.live.http import LiveState, start_server


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


class Browser:
    """Headless Chromium with one page, driven through the DevTools protocol."""

    def __init__(self, width: int = 420, height: int = 900) -> None:
        import websocket  # websocket-client

        port = free_port()
        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={port}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.time() + 20
        while True:
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2))
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        page = next(target for target in targets if target["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                return message.get("result", {})

    def text(self, element_id: str) -> str:
        """The text of one element of the page, as the viewer sees it now."""
        expression = f"document.getElementById({json.dumps(element_id)}).textContent"
        return self.call("Runtime.evaluate", expression=expression)["result"].get("value", "")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        print(f"wrote {path}")

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("clip", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--roi", default=None)
    parser.add_argument("--cameras", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        sys.exit("needs Debian's chromium (apt install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    frames = encoded_frames(args.clip)
    cameras, http = [Camera(frames) for _ in range(args.cameras)], f"127.0.0.1:{free_port()}"
    camera = cameras[min(1, len(cameras) - 1)]  # the one that freezes
    command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(args.model), "--http", http]
    if args.cameras == 1:
        command += ["--source", camera.url] + (["--roi", args.roi] if args.roi else [])
    else:
        roi = f"roi = [{args.roi}]\n" if args.roi else ""
        entries = [
            f'[[camera]]\nname = "camera {index + 1}"\nsource = "{one.url}"\n'
            f'[[camera.light]]\nname = "light {index + 1}"\n{roi}'
            for index, one in enumerate(cameras)
        ]
        (args.out / "cameras.toml").write_text("\n".join(entries))
        command += ["--config", str(args.out / "cameras.toml")]
    serve = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    browser = Browser()
    try:
        time.sleep(3)
        browser.call("Page.navigate", url=f"http://{http}/")
        time.sleep(4)
        browser.screenshot(args.out / "1-live.png")
        camera.feeding.clear()  # frozen: declared lost within the stall timeout (3 s)
        time.sleep(6)
        browser.screenshot(args.out / "2-stalled.png")
        camera.feeding.set()
        time.sleep(6)
        browser.screenshot(args.out / "3-back.png")
        serve.send_signal(signal.SIGTERM)
        serve.wait(20)
        time.sleep(3)
        browser.screenshot(args.out / "4-server-stopped.png")
    finally:
        serve.kill()
        browser.close()
        for one in cameras:
            one.close()


if __name__ == "__main__":
    main()
