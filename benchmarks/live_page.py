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
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the loopback camera and browser the tests use

from helpers.browser import Browser  # noqa: E402
from helpers.loopback import Camera, encoded_frames, free_port  # noqa: E402


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
