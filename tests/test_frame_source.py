"""FrameSource (runtime/streams.py) against fake and real cameras: freezes, replays, backoff, cameras
down at start, hung reads, streams that die, corrupt files."""

from __future__ import annotations

import json
import threading
import time

import pytest
from helpers.captures import Connections, FakeCapture, green, pictures
from helpers.clips import write_clip
from helpers.loopback import MjpegServer
from helpers.waiting import wait_until

from edgecls.core.errors import StreamError
from edgecls.runtime import load_classifier
from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.sources import SourceSpec, parse_source
from edgecls.runtime.streams import FIRST_BACKOFF_S, FrameSource

CAMERA = SourceSpec("camera", 0)


def drain(source: FrameSource, seconds: float) -> list[int]:
    """Pixel values of every frame handed out within `seconds`."""
    values, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        frame = source.get(timeout_s=0.05)
        if frame is not None:
            values.append(int(frame.image[0, 0, 0]))
    return values


@pytest.fixture
def clip(tmp_path):
    states = ["red"] * 20 + ["green"] * 20 + ["blue"] * 20
    return write_clip(tmp_path / "clip.avi", states), states


def read_for(seconds: float, factory: Connections, read_timeout_s: float) -> tuple[list[int], FrameSource]:
    """The pixel values a camera opened through `factory` hands out within `seconds`, and its source (stopped)."""
    source = FrameSource(CAMERA, read_timeout_s=read_timeout_s, capture_factory=factory).start()
    try:
        return drain(source, seconds), source
    finally:
        source.stop()


def test_a_frozen_camera_is_lost_within_the_read_timeout_and_its_old_frame_never_handed_out():
    factory = Connections(pictures([1] * 5, then="freeze", block_s=0.6), pictures([1] * 500))
    captures = factory.opened
    values, source = read_for(2.0, factory, read_timeout_s=0.6)
    assert 99 not in values and values.count(1) > 5  # fresh frames before and after, never the old one
    assert source.stats.frozen == 1 and source.stats.reconnects == 1 and len(captures) == 2
    # declared lost when the read timed out, then reopened after the first backoff step
    assert captures[1].opened_at - captures[0].opened_at < 0.05 * 5 + 0.6 + FIRST_BACKOFF_S + 0.3


def test_a_frozen_camera_s_last_picture_replayed_on_reconnect_is_not_new():
    """An MJPEG server hands a new connection its current frame: after a freeze that is the old
    picture, and it is not handed out as fresh. The next, different pictures are."""
    factory = Connections(pictures([10, 11, 12, 13, 14], 0.05, block_s=0.6), pictures([14, 20, 21, 22, 23, 24], 0.05, block_s=5.0))
    captures = factory.opened
    values, source = read_for(2.5, factory, read_timeout_s=0.6)
    assert source.stats.frozen == 1 and len(captures) == 2
    assert values.count(14) == 1 and values[-5:] == [20, 21, 22, 23, 24], values


def test_the_backoff_starts_short_again_after_a_good_connection():
    captures = []

    def factory(*args):
        captures.append(FakeCapture(pictures([1] * 3)))  # every connection delivers frames, then drops
        return captures[-1]

    source = FrameSource(CAMERA, read_timeout_s=1.0, capture_factory=factory, max_backoff_s=8).start()
    try:
        drain(source, 3.0)
    finally:
        source.stop()
    gaps = [later.opened_at - earlier.opened_at for earlier, later in zip(captures, captures[1:], strict=False)]
    assert len(gaps) >= 3
    assert max(gaps) < FIRST_BACKOFF_S + 0.3, gaps  # never 1, 2, 4 s: each outage starts at the first step


def test_a_camera_down_at_start_is_waited_for_unless_failing_fast():
    attempts = []

    def factory(*args):
        attempts.append(time.perf_counter())
        return FakeCapture(pictures([1] * 500), opens=len(attempts) > 3)  # up from the fourth attempt

    with pytest.raises(StreamError, match="could not be opened"):
        FrameSource(CAMERA, open_timeout_s=0.2, read_timeout_s=0.2, capture_factory=factory).start()
    attempts.clear()
    source = FrameSource(CAMERA, open_timeout_s=0.2, read_timeout_s=0.2, capture_factory=factory, wait_for_source=True)
    started = time.perf_counter()
    source.start()
    try:
        assert time.perf_counter() - started < 1.0 and not source.connected  # the service starts regardless
        values = drain(source, 5.0)
    finally:
        source.stop()
    assert values and source.connected is True and len(attempts) == 4


def test_a_camera_that_never_opens_times_out():
    capture = FakeCapture(green(), hang_open=True)
    source = FrameSource(
        SourceSpec("camera", 0), open_timeout_s=0.5, read_timeout_s=0.5, capture_factory=lambda *a: capture
    )
    started = time.perf_counter()
    with pytest.raises(StreamError, match="no frame within"):
        source.start()
    assert time.perf_counter() - started < 3
    capture.unhang.set()


def test_network_stream_that_dies_is_reconnected(color_model, tmp_path):
    camera = MjpegServer()
    url = f"http://127.0.0.1:{camera.port}/stream.mjpg"
    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(parse_source(url), open_timeout_s=2, read_timeout_s=2, max_backoff_s=1).start()
    stop = threading.Event()
    results = {}
    notices = []
    worker = threading.Thread(
        target=lambda: results.setdefault(
            "summary",
            run_live(
                classifier, source, LiveConfig(smooth=1, events=tmp_path / "ev.jsonl"), stop=stop, on_status=notices.append
            ),
        )
    )
    worker.start()
    assert wait_until(lambda: source.stats.frames_read > 20)
    camera.kill()
    assert wait_until(lambda: not source.connected, timeout=10)
    time.sleep(0.5)
    read_while_gone = source.stats.frames_read
    time.sleep(2.0)
    assert source.stats.frames_read == read_while_gone  # nothing made up while the server is down
    camera = MjpegServer(port=camera.port)
    assert wait_until(lambda: source.stats.frames_read > read_while_gone + 20)
    stop.set()
    worker.join(10)
    camera.kill()
    summary = results["summary"]
    assert summary.reconnects >= 1 and summary.processed > 40 and summary.final_state == "red"
    assert any("lost" in notice for notice in notices) and any("back" in notice for notice in notices)
    changes = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    steps = [(change["from"], change["to"], change["reason"]) for change in changes]
    assert steps == [("unknown", "red", ""), ("red", "unknown", "source lost"), ("unknown", "red", "")]


def test_a_corrupt_stretch_of_a_file_is_stepped_over_and_counted(color_model, tmp_path):
    states = ["red"] * 20 + ["green"] * 20 + ["blue"] * 20
    data = bytearray(write_clip(tmp_path / "clip.avi", states).read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4000] = bytes(4000)  # a damaged stretch mid-file
    (tmp_path / "damaged.avi").write_bytes(data)
    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(parse_source(str(tmp_path / "damaged.avi"))).start()
    frames = tmp_path / "frames.jsonl"
    summary = run_live(classifier, source, LiveConfig(jsonl=str(frames), smooth=1))
    records = [json.loads(line) for line in frames.read_text().splitlines()]
    assert summary.stopped_by == "end of source" and summary.skipped >= 1
    assert summary.processed + summary.skipped == len(states)  # read to the real end, not to the damage
    assert records[-1]["label"] == "blue"
