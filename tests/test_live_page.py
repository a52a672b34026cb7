"""The live page in a real browser (headless Chromium): it says when what it shows is not current."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from helpers.clips import write_noisy_clip
from helpers.waiting import wait_until

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")


def wait_for(read, expected: str, timeout: float = 15.0) -> str:
    """The text `read()` gives once it starts with `expected` (or the last one, after `timeout`)."""
    wait_until(lambda: read().startswith(expected), timeout)
    return read()


def test_the_page_shows_live_disconnected_and_server_unreachable(color_model, tmp_path):
    from helpers.browser import Browser
    from helpers.loopback import Camera, encoded_frames, free_port

    clip = write_noisy_clip(tmp_path / "red.avi", (20, 20, 220))
    camera, http = Camera(encoded_frames(clip)), f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(color_model), "--source", camera.url]
    serve = subprocess.Popen([*command, "--http", http, "--stall-timeout", "1"], stderr=subprocess.DEVNULL)
    browser = Browser()
    try:
        time.sleep(2)
        browser.call("Page.navigate", url=f"http://{http}/")
        status = lambda: browser.text("status")  # noqa: E731
        assert wait_for(status, "LIVE · red").startswith("LIVE · red")
        assert browser.text("state") == "red" and "state score" in browser.text("detail")
        camera.feeding.clear()  # frozen camera: the connection stays open, no frames come
        assert wait_for(status, "DISCONNECTED").startswith("DISCONNECTED: source lost")
        assert browser.text("state") == "unknown" and "source lost" in browser.text("changes")
        browser.screenshot(tmp_path / "stalled.png")
        camera.feeding.set()
        assert wait_for(status, "LIVE").startswith("LIVE")
        serve.send_signal(signal.SIGTERM)
        serve.wait(20)
        assert wait_for(status, "SERVER UNREACHABLE").startswith("SERVER UNREACHABLE")
        assert browser.text("detail").startswith("no answer from the server since")
    finally:
        serve.kill()
        browser.close()
        camera.close()


def test_a_hostile_label_is_shown_as_text_and_never_runs(tmp_path):
    """A model whose class name is markup: the page shows the name as text in every place it
    appears, no script of it runs, and the page's policy allows only the page's own script."""
    import urllib.request

    from helpers.browser import Browser
    from helpers.loopback import Camera, encoded_frames, free_port

    from edgecls.runtime.contract import build_metadata

    from onnx_models import color_classifier

    hostile = "<img src=x onerror=\"document.title='pwned'\">"
    classes = (hostile, "green", "blue")
    metadata = build_metadata(classes, (32, 32), "test", "fp32", 1.0, "now")
    model = color_classifier(tmp_path / "hostile.onnx", classes, metadata=metadata)
    clip = tmp_path / "red.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (64, 48))
    for _ in range(20):
        writer.write(np.full((48, 64, 3), (20, 20, 220), np.uint8))
    writer.release()
    camera, http = Camera(encoded_frames(clip)), f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(model), "--source", camera.url, "--http", http]
    serve = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    browser = Browser()
    try:
        time.sleep(2)
        with urllib.request.urlopen(f"http://{http}/", timeout=5) as response:
            policy = response.headers["Content-Security-Policy"]
        assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        browser.call("Page.navigate", url=f"http://{http}/")
        changes = wait_for(lambda: browser.text("changes"), "last changes")
        deadline = time.perf_counter() + 15
        while hostile not in changes and time.perf_counter() < deadline:
            time.sleep(0.2)
            changes = browser.text("changes")
        assert hostile in changes  # the name itself, as text
        assert browser.text("state") == hostile
        evaluate = lambda expression: browser.call("Runtime.evaluate", expression=expression)["result"]["value"]  # noqa: E731
        assert evaluate("document.title") == "edgecls live"
        assert evaluate("document.images.length") == 1  # the video, and no image made of the label
        browser.screenshot(tmp_path / "hostile.png")
    finally:
        serve.kill()
        browser.close()
        camera.close()


def test_a_browser_opens_a_token_guarded_page_once_and_stays_in(color_model, tmp_path):
    """With --http-token, the page without the token is a 401; opened once as /?token=TOKEN, the
    browser is sent on to / with the token in a cookie (not in the address), and the page's own
    requests (the state, the video) carry it: the page goes live and shows the picture."""
    import os

    from helpers.browser import Browser
    from helpers.loopback import Camera, encoded_frames, free_port

    clip = write_noisy_clip(tmp_path / "red.avi", (20, 20, 220))
    token = "page-token-0123456789abcdef"
    camera, http = Camera(encoded_frames(clip)), f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(color_model), "--source", camera.url, "--http", http]
    serve = subprocess.Popen(command, stderr=subprocess.DEVNULL, env={**os.environ, "EDGECLS_HTTP_TOKEN": token})
    browser = Browser()
    evaluate = lambda expression: browser.call("Runtime.evaluate", expression=expression)["result"]["value"]  # noqa: E731
    try:
        time.sleep(2)
        browser.call("Page.navigate", url=f"http://{http}/")
        assert wait_until(lambda: "needs its token" in evaluate("document.body ? document.body.innerText : ''"))
        browser.call("Page.navigate", url=f"http://{http}/?token={token}")
        assert wait_for(lambda: browser.text("status"), "LIVE · red").startswith("LIVE · red")
        assert evaluate("location.href") == f"http://{http}/"  # the token is not left in the address
        assert wait_until(lambda: evaluate("document.getElementById('video').naturalWidth") == 64)  # the video came
        browser.screenshot(tmp_path / "token.png")
    finally:
        serve.kill()
        browser.close()
        camera.close()
