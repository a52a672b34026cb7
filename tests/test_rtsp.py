"""serve-camera against a real RTSP server on loopback (GStreamer's, H.264 at 15 fps, started by the
test and stopping on its own): a frozen camera and short reboots. Skips where Debian's GStreamer RTSP
server is not installed (`.ci/run` installs it)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers.loopback import free_port
from helpers.waiting import wait_until

from edgecls.runtime import load_classifier
from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FIRST_BACKOFF_S, FrameSource

SYSTEM_PYTHON = "/usr/bin/python3"
CAMERA = Path(__file__).with_name("rtsp_camera.py")


def _rtsp_server_installed() -> bool:
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _rtsp_server_installed(), reason="needs Debian's gir1.2-gst-rtsp-server-1.0 and python3-gi"),
]


class RtspCamera:
    """tests/rtsp_camera.py in a process of its own; `freeze`, `resume`, `kill`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(CAMERA), str(port), "90"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"
        self.url = f"rtsp://127.0.0.1:{port}/cam"

    def say(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def live_run(classifier, source, config, notices):
    """run_live on a thread; returns (thread, stop, holder of the summary)."""
    stop, holder = threading.Event(), {}

    def run():
        holder["summary"] = run_live(
            classifier, source, config, stop=stop, on_status=lambda m: notices.append((time.perf_counter(), m))
        )

    thread = threading.Thread(target=run)
    thread.start()
    return thread, stop, holder


def test_a_frozen_rtsp_camera_is_declared_lost_in_time_and_nothing_old_is_reported(color_model, tmp_path):
    camera = RtspCamera(free_port())
    out = tmp_path / "frames.jsonl"
    stall = 2.0
    source = FrameSource(parse_source(camera.url), open_timeout_s=5, read_timeout_s=stall, max_backoff_s=2).start()
    notices: list[tuple[float, str]] = []
    config = LiveConfig(smooth=1, stall_timeout_s=stall, jsonl=out)
    thread, stop, holder = live_run(load_classifier(color_model, "cpu"), source, config, notices)
    try:
        assert wait_until(lambda: out.exists() and len(out.read_text().splitlines()) > 15)
        frozen_at = time.perf_counter()
        camera.say("freeze")
        assert wait_until(lambda: any("lost" in message for _, message in notices), timeout=10)
        lost_at = next(at for at, message in notices if "lost" in message)
        assert lost_at - frozen_at <= stall + 1.0  # declared lost within the stall timeout (and a poll)
        records_when_lost = len(out.read_text().splitlines())
        time.sleep(3.0)
        assert len(out.read_text().splitlines()) == records_when_lost  # nothing reported while frozen
        camera.say("resume")
        assert wait_until(lambda: len(out.read_text().splitlines()) > records_when_lost + 10, timeout=20)
    finally:
        stop.set()
        thread.join(15)
        camera.kill()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(record["label"] == "red" for record in records)
    assert holder["summary"].frozen + holder["summary"].reconnects >= 1


def test_three_short_reboots_each_recover_within_the_first_backoff_step(color_model, tmp_path):
    port = free_port()
    camera = RtspCamera(port)
    source = FrameSource(parse_source(camera.url), open_timeout_s=5, read_timeout_s=3, max_backoff_s=8).start()
    notices: list[tuple[float, str]] = []
    thread, stop, _ = live_run(load_classifier(color_model, "cpu"), source, LiveConfig(smooth=1), notices)
    recoveries = []
    try:
        assert wait_until(lambda: source.stats.frames_read > 15)
        for _ in range(3):
            camera.kill()
            assert wait_until(lambda: not source.connected, timeout=10)
            time.sleep(1.0)  # the camera reboots
            camera = RtspCamera(port)
            back_at, before = time.perf_counter(), source.stats.frames_read
            assert wait_until(lambda before=before: source.stats.frames_read > before, timeout=20)
            recoveries.append(time.perf_counter() - back_at)
            assert wait_until(lambda before=before: source.stats.frames_read > before + 15)  # a good connection
    finally:
        stop.set()
        thread.join(15)
        camera.kill()
    # The backoff starts short again after each good connection: the wait never grows past the
    # first steps (0.5 s, then 1 s while the camera was away), plus the RTSP session's set-up.
    assert all(seconds < 2 * FIRST_BACKOFF_S + 2.0 for seconds in recoveries), recoveries
