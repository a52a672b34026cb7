"""The live loop end to end (runtime/live/): files in order, the HTTP view, signals, CLI errors, outputs
checked and flushed, recording, rates, frozen pictures, a summary whatever stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from helpers.captures import FakeCapture, green, noisy_green, pictures
from helpers.clips import write_clip
from helpers.loopback import MjpegServer
from helpers.waiting import wait_until

from edgecls.runtime import load_classifier
from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.sources import SourceSpec, parse_source
from edgecls.runtime.streams import FrameSource

CAMERA = SourceSpec("camera", 0)


@pytest.fixture
def clip(tmp_path):
    states = ["red"] * 20 + ["green"] * 20 + ["blue"] * 20
    return write_clip(tmp_path / "clip.avi", states), states


def test_rates_count_only_the_time_connected(color_model):
    from edgecls.runtime.live import LiveConfig, run_live
    from edgecls.runtime.model import load_classifier

    captures = []

    def factory(*args):
        captures.append(FakeCapture(pictures([1] * 40), opens=len(captures) not in (1, 2)))  # away for two attempts
        return captures[-1]

    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(CAMERA, read_timeout_s=1.0, capture_factory=factory).start()
    summary = run_live(classifier, source, LiveConfig(max_frames=70))
    assert summary.processed == 70 and summary.reconnects == 1 and len(captures) == 4
    assert summary.connected_seconds < summary.seconds - 1.0  # 3.5 s of backoff (0.5, 1, 2): not connected
    assert summary.fps == pytest.approx(70 / summary.connected_seconds, rel=0.05)


def test_a_picture_that_never_changes_is_a_frozen_frame_not_a_state(color_model, tmp_path):
    import json

    from edgecls.runtime.live import LiveConfig, run_live
    from edgecls.runtime.model import load_classifier

    source = FrameSource(CAMERA, capture_factory=lambda *a: FakeCapture(noisy_green(stuck=(25, 75)))).start()
    config = LiveConfig(smooth=1, stall_timeout_s=1.0, events=tmp_path / "events.jsonl", max_frames=110)
    summary = run_live(load_classifier(color_model, "cpu"), source, config)
    changes = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    steps = [(change["to"], change["reason"]) for change in changes]
    assert steps == [("green", ""), ("unknown", "frozen frame"), ("green", "")]
    assert summary.final_state == "green"


def test_file_is_processed_in_order_with_nothing_dropped(color_model, clip, tmp_path):
    path, states = clip
    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(parse_source(str(path))).start()
    out = tmp_path / "frames.jsonl"
    summary = run_live(classifier, source, LiveConfig(smooth=3, jsonl=str(out), record=str(tmp_path / "rec.avi")))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(len(states)))
    assert [line["label"] for line in lines] == states
    assert summary.processed == summary.frames_read == len(states) and summary.dropped == 0
    assert summary.state_changes == 3 and summary.final_state == "blue"
    assert set(lines[0]) == {"frame", "time", "label", "score", "state", "latency_ms"}
    recorded = cv2.VideoCapture(str(tmp_path / "rec.avi"))
    assert int(recorded.get(cv2.CAP_PROP_FRAME_COUNT)) == len(states)


def test_a_hung_read_is_restarted_and_counted(color_model):
    captures = []

    def factory(*args):
        captures.append(FakeCapture(green(hang_after=10 if not captures else None)))
        return captures[-1]

    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(SourceSpec("camera", 0), capture_factory=factory).start()
    summary = run_live(classifier, source, LiveConfig(max_frames=20, stall_timeout_s=0.5))
    assert summary.processed == 20 and summary.reconnects >= 1 and len(captures) >= 2
    assert captures[-1].released.is_set()  # the working capture is released when the run ends
    assert not captures[0].released.is_set()  # the stuck one is abandoned, never released mid-read
    captures[0].unhang.set()  # when its read finally returns, its own thread releases it
    assert wait_until(lambda: captures[0].released.is_set(), timeout=5)


def test_frame_size_change_mid_stream_with_roi_and_recording(color_model, tmp_path):
    factory = lambda *a: FakeCapture(green(sizes=((240, 320), (480, 640), (100, 90))))  # noqa: E731
    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(SourceSpec("camera", 0), capture_factory=factory).start()
    config = LiveConfig(max_frames=12, roi=(50, 50, 200, 150), record=str(tmp_path / "r.avi"))
    summary = run_live(classifier, source, config)
    assert summary.processed == 12 and summary.final_state == "green"
    assert (tmp_path / "r.avi").stat().st_size > 0


def test_http_endpoints_during_a_run(color_model, clip):
    path, _ = clip
    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(parse_source(str(path)), realtime=True).start()
    stop = threading.Event()
    config = LiveConfig(http="127.0.0.1:0", smooth=1)
    holder = {}

    notices = []

    def run():
        holder["summary"] = run_live(classifier, source, config, stop=stop, on_status=notices.append)

    try:
        thread = threading.Thread(target=run)
        thread.start()
        assert wait_until(lambda: notices and source.stats.frames_read > 5)
        base = notices[0].split()[1].rstrip("/")  # "serving http://127.0.0.1:PORT/ (...)": the real port
        state = json.loads(urllib.request.urlopen(base + "/state", timeout=5).read())
        assert state["state"] in {"red", "green", "blue"} and state["age_s"] < 5 and state["provider"] == "cpu"
        assert json.loads(urllib.request.urlopen(base + "/healthz", timeout=5).read()) == {"ok": True}
        assert b"/stream.mjpg" in urllib.request.urlopen(base + "/", timeout=5).read()
        from prometheus_client.parser import text_string_to_metric_families

        scraped = urllib.request.urlopen(base + "/metrics", timeout=5)
        assert scraped.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        families = {family.name: family for family in text_string_to_metric_families(scraped.read().decode())}
        processed = families["edgecls_frames_processed"].samples[0]
        assert processed.name == "edgecls_frames_processed_total" and processed.value > 0
        assert processed.labels == {"camera": "cam0", "source": str(path)}
        lit = [s.labels["state"] for s in families["edgecls_light_state"].samples if s.value == 1.0]
        assert len(lit) == 1 and lit[0] in {"red", "green", "blue", "unknown"}
        latency = {s.name: s.value for s in families["edgecls_latency_seconds"].samples if not s.labels.get("le")}
        assert latency["edgecls_latency_seconds_count"] > 0 and latency["edgecls_latency_seconds_sum"] > 0
        assert families["edgecls_source_connected"].samples[0].value == 1.0
        for family in families.values():  # a series of a source or a light names its camera
            for sample in family.samples:
                assert "camera" in sample.labels or not {"source", "light"} & set(sample.labels), sample
        assert families["edgecls_frames_decoded"].samples[0].value > 0
        for name in ("edgecls_decode_seconds", "edgecls_inference_seconds"):
            samples = families[name].samples
            buckets = [s.value for s in samples if s.name == name + "_bucket"]
            count = next(s.value for s in samples if s.name == name + "_count")
            assert count > 0 and buckets == sorted(buckets) and buckets[-1] == count, name
            assert 0 < next(s.value for s in samples if s.name == name + "_sum") < count  # each well under a second
        runs = {s.name: s.value for name in ("edgecls_light_inferences", "edgecls_light_gated") for s in families[name].samples}
        assert runs["edgecls_light_inferences_total"] > 0 and runs["edgecls_light_gated_total"] >= 0
        stream = urllib.request.urlopen(base + "/stream.mjpg", timeout=5)
        assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        assert stream.read(7) == b"--frame"
        stream.close()
    finally:
        stop.set()
        thread.join(10)
    assert holder["summary"].stopped_by == "signal"


def test_sigterm_stops_promptly_and_flushes(color_model, tmp_path):
    path = write_clip(tmp_path / "long.avi", ["green"] * 500, fps=25)
    out = tmp_path / "frames.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgecls.cli",
            "serve-camera",
            str(color_model),
            "--source",
            str(path),
            "--realtime",
            "--jsonl",
            str(out),
            "--summary-json",
            str(tmp_path / "summary.json"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert wait_until(lambda: out.exists() and out.stat().st_size > 0 or process.poll() is not None, timeout=20)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    started = time.perf_counter()
    _, stderr = process.communicate(timeout=10)
    assert time.perf_counter() - started < 3
    assert process.returncode == 0, stderr
    assert "stopped by signal" in stderr
    lines = out.read_text().splitlines()
    assert lines and all(json.loads(line)["label"] == "green" for line in lines)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["processed"] == len(lines) and summary["stopped_by"] == "signal"


def test_cli_errors_are_one_line(color_model, clip, tmp_path):
    from typer.testing import CliRunner

    from edgecls.cli import app

    path, _ = clip
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "serve-camera",
            str(color_model),
            "--source",
            str(path),
            "--jsonl",
            str(tmp_path / "no" / "such" / "dir.jsonl"),
        ],
    )
    assert result.exit_code == 2 and "--jsonl" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["serve-camera", str(color_model), "--source", str(path), "--roi", "1,2,3"])
    assert result.exit_code == 2 and "--roi must be X,Y,W,H" in result.output
    result = runner.invoke(app, ["serve-camera", str(color_model), "--source", str(tmp_path / "nope.mp4")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_show_without_a_display_is_a_clear_error(color_model, clip, monkeypatch):
    from typer.testing import CliRunner

    from edgecls.cli import app

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    path, _ = clip
    result = CliRunner().invoke(app, ["serve-camera", str(color_model), "--source", str(path), "--show"])
    assert result.exit_code == 2 and "--show needs a display" in result.output and "--http" in result.output


def test_realtime_on_a_file_ends_at_its_end(color_model, clip):
    path, states = clip
    classifier = load_classifier(color_model, "cpu")
    source = FrameSource(parse_source(str(path)), realtime=True).start()
    started = time.perf_counter()
    summary = run_live(classifier, source, LiveConfig(stall_timeout_s=1.0))
    # 60 frames at 25 fps: about 2.4 s, then the end; never a stall, a reopen and a second playing.
    assert time.perf_counter() - started < 6
    assert summary.stopped_by == "end of source" and summary.reconnects == 0
    assert summary.frames_read == len(states)


def test_outputs_are_checked_before_the_first_frame(color_model, clip, tmp_path):
    from typer.testing import CliRunner

    from edgecls.cli import app

    path, _ = clip
    runner = CliRunner()
    for target, message in ((tmp_path / "missing" / "out.avi", "does not exist"), (tmp_path / "out.xyz", ".avi")):
        result = runner.invoke(app, ["serve-camera", str(color_model), "--source", str(path), "--record", str(target)])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not [p.name for p in tmp_path.iterdir() if p.suffix not in (".avi", ".onnx")]  # nothing left behind
    assert not list(tmp_path.glob(".*"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_line_and_the_other_outputs_flush(color_model, clip, tmp_path):
    from typer.testing import CliRunner

    from edgecls.cli import app

    path, _ = clip
    record, summary = tmp_path / "out.avi", tmp_path / "summary.json"
    arguments = ["--source", str(path), "--jsonl", "/dev/full", "--record", str(record), "--summary-json", str(summary)]
    result = CliRunner().invoke(app, ["serve-camera", str(color_model), *arguments])
    assert result.exit_code == 1 and "--jsonl /dev/full: write failed (No space left on device)" in result.output
    assert "Traceback" not in result.output
    written = json.loads(summary.read_text())  # the summary is still written
    assert written["stopped_by"] == "an output failed"
    assert written["errors"] == ["--jsonl /dev/full: write failed (No space left on device)"]  # reported once
    assert not list(tmp_path.glob(".*partial*"))  # no half-written recording left unreported
    assert "recording:" not in result.output or record.exists()


def test_a_recording_cut_short_is_reported(tmp_path):
    from edgecls.runtime.live import verify_recording

    path = write_clip(tmp_path / "clip.avi", ["red"] * 40)
    assert verify_recording(path, 40) is None
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # the disk filled half-way
    problem = verify_recording(path, 40)
    assert problem is not None and "40 frames" in problem


def test_serve_camera_waits_for_a_camera_that_is_down_at_start(color_model, tmp_path):
    from helpers.loopback import free_port

    port = free_port()  # for a camera that comes up later
    out = tmp_path / "frames.jsonl"
    command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(color_model), "--max-frames", "5"]
    command += ["--source", f"http://127.0.0.1:{port}/stream.mjpg", "--open-timeout", "0.5", "--jsonl", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.0)
        assert process.poll() is None  # still running: waiting for its camera, not exited
        camera = MjpegServer(port=port)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    camera.kill()
    assert process.returncode == 0, stderr
    assert "is not there yet; retrying in the background" in stderr
    assert len(out.read_text().splitlines()) == 5


def test_a_flashing_light_is_reported_as_flashing_on_the_file_s_own_clock(tmp_path):
    from onnx_models import color_classifier

    # A model that reads green pixels as "off" and blue ones as "yellow": blue and green alternating
    # every half second is a flashing yellow light. The file is read far faster than it plays.
    model = color_classifier(tmp_path / "lights.onnx", classes=("red", "off", "yellow"))
    states = ["red"] * 50 + (["blue"] * 12 + ["green"] * 13) * 4 + ["red"] * 75
    path = write_clip(tmp_path / "flashing.avi", states)
    out, events = tmp_path / "frames.jsonl", tmp_path / "events.jsonl"
    config = LiveConfig(smooth=3, jsonl=out, events=events)
    summary = run_live(load_classifier(model, "cpu"), FrameSource(parse_source(str(path))).start(), config)
    reported = [json.loads(line)["state"] for line in out.read_text().splitlines()]
    assert len(reported) == len(states) and reported[:50] == ["red"] * 50
    first = reported.index("flashing_yellow")
    assert 50 <= first <= 50 + 3 * 25  # within 3 s of the flashing starting
    back = reported.index("red", 150)
    assert back - 150 <= 3 * 25 and set(reported[first:150]) == {"flashing_yellow"}
    # red, then yellow and off until the cycle is seen, flashing yellow, red again: one event each
    assert summary.final_state == "red" and summary.state_changes == 5
    changes = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(change["from"], change["to"]) for change in changes] == [
        ("unknown", "red"),
        ("red", "yellow"),
        ("yellow", "off"),
        ("off", "flashing_yellow"),
        ("flashing_yellow", "red"),
    ]
    assert all(set(change) == {"light", "from", "to", "time", "score", "reason"} for change in changes)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_stopped_while_waiting_for_its_source_it_still_writes_its_summary(color_model, tmp_path, stop):
    """Ctrl-C or SIGTERM while the source has not answered yet: the summary line and --summary-json are
    written (they were lost). Once serving, /readyz says the source is not connected yet, not that no
    frame was classified."""
    from helpers.loopback import free_port

    summary = tmp_path / "summary.json"
    http = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(color_model), "--summary-json", str(summary)]
    command += ["--source", f"http://127.0.0.1:{free_port()}/video", "--open-timeout", "0.5", "--stall-timeout", "1"]
    if stop == signal.SIGINT:  # early: while the source is being opened
        command += ["--open-timeout", "20"]
    else:
        command += ["--http", http]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if stop == signal.SIGTERM:
            deadline = time.perf_counter() + 30
            answer = None
            while answer is None and time.perf_counter() < deadline:
                try:
                    urllib.request.urlopen(f"http://{http}/readyz", timeout=2)
                except urllib.error.HTTPError as error:
                    answer = json.loads(error.read())
                except OSError:
                    time.sleep(0.2)
            assert answer == {"ready": False, "why": "source not connected yet (waiting for it)"}
        else:
            time.sleep(3)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == (130 if stop == signal.SIGINT else 0), stderr
    assert "stopped by" in stderr and "Traceback" not in stderr
    assert json.loads(summary.read_text())["stopped_by"] == ("Ctrl-C" if stop == signal.SIGINT else "signal")


@pytest.mark.parametrize("rate", [None, 5.0, 8.0])
def test_flashing_and_steady_states_are_the_same_at_any_classification_rate(tmp_path, rate):
    """The same flashing clip classified every frame, or 5 or 8 times a second on the file's own
    clock: the frames in between are read but not decoded, and smoothing and flashing work in time,
    so the reported states (red, flashing yellow within 3 s, red again) and the events are the same."""
    from onnx_models import color_classifier

    model = color_classifier(tmp_path / "lights.onnx", classes=("red", "off", "yellow"))
    states = ["red"] * 50 + (["blue"] * 12 + ["green"] * 13) * 4 + ["red"] * 75
    path = write_clip(tmp_path / "flashing.avi", states)
    out, events = tmp_path / "frames.jsonl", tmp_path / "events.jsonl"
    source = FrameSource(parse_source(str(path)), classify_fps=rate).start()
    summary = run_live(load_classifier(model, "cpu"), source, LiveConfig(smooth=3, jsonl=out, events=events))
    frames = [json.loads(line) for line in out.read_text().splitlines()]
    step = 25 / rate if rate else 1
    assert len(frames) == pytest.approx(len(states) / step, abs=1) and source.stats.frames_read == len(states)
    assert source.stats.not_decoded == len(states) - len(frames)
    indices = [frame["frame"] for frame in frames]
    assert all(abs(b - a - step) <= 1 for a, b in zip(indices, indices[1:], strict=False))  # on schedule
    first = next(frame["frame"] for frame in frames if frame["state"] == "flashing_yellow")
    assert 50 <= first <= 50 + 3 * 25
    assert next(frame["frame"] for frame in frames if frame["frame"] >= 150 and frame["state"] == "red") - 150 <= 3 * 25
    changes = [(change["from"], change["to"]) for change in map(json.loads, events.read_text().splitlines())]
    assert changes[0] == ("unknown", "red") and changes[-2:] == [("off", "flashing_yellow"), ("flashing_yellow", "red")]
    assert summary.final_state == "red"


def test_a_live_camera_is_classified_on_schedule_and_the_rest_is_not_decoded(color_model):
    """A 30 fps MJPEG camera read at 5 a second: 5 frames a second handed out (not 4.3), every part
    read, the others' bytes skipped without decoding."""
    from helpers.loopback import MultipartCamera, part

    picture = cv2.imencode(".jpg", np.full((48, 64, 3), (0, 0, 255), np.uint8))[1].tobytes()
    camera = MultipartCamera(lambda number: part(picture, len(picture)), period_s=1 / 30, count=100_000)
    source = FrameSource(parse_source(camera.url), open_timeout_s=2, read_timeout_s=2, classify_fps=5.0).start()
    try:
        time.sleep(0.5)
        handed, read_before = 0, source.stats.frames_read
        started = time.perf_counter()
        while time.perf_counter() - started < 4.0:
            if source.get(0.1) is not None:
                handed += 1
        elapsed = time.perf_counter() - started
        received = source.stats.frames_read - read_before
    finally:
        source.stop()
        camera.close()
    assert 4.5 <= handed / elapsed <= 5.5, handed / elapsed
    assert received >= 25 * elapsed and source.stats.not_decoded >= received - handed - 2


def test_a_camera_is_decoded_at_the_scale_its_lights_need_and_in_full_when_watched(color_model, tmp_path):
    """An MJPEG camera, 640x480, a light of 200x200 pixels and a 32 px model: decoded at 1/4 (the
    light keeps 50 px), the ROI mapped to the smaller frame (the light is green, the rest red); a
    recording wants the full frame, so then nothing is reduced."""
    from helpers.loopback import MultipartCamera, part

    from edgecls.runtime.cameras import CameraSpec, LightSpec
    from edgecls.runtime.live import run_cameras
    from edgecls.runtime.live.light import scaled_roi

    assert scaled_roi((10, 20, 200, 200), 4) == (2, 5, 51, 50) and scaled_roi((8, 8, 16, 16), 8) == (1, 1, 2, 2)
    image = np.full((480, 640, 3), (0, 0, 255), np.uint8)
    image[200:400, 400:600] = (0, 255, 0)
    picture = cv2.imencode(".jpg", image)[1].tobytes()
    for record, expected_scale in ((None, 4), (tmp_path / "out.avi", 1)):
        camera = MultipartCamera(lambda number: part(picture, len(picture)), period_s=1 / 30, count=100_000)
        source = FrameSource(parse_source(camera.url), open_timeout_s=2, read_timeout_s=2).start()
        scales: list[int] = []
        handed_out = source.get

        def get(timeout_s: float = 1.0, handed_out=handed_out, scales=scales):
            frame = handed_out(timeout_s)
            if frame is not None:
                scales.append(frame.scale)  # the scale each frame the loop took was decoded at
            return frame

        source.get = get  # type: ignore[method-assign]
        spec = CameraSpec("cam0", camera.url, (LightSpec("light", (400, 200, 200, 200)),))
        out = tmp_path / "frames.jsonl"
        try:
            run_cameras(load_classifier(color_model, "cpu"), [(spec, source)], LiveConfig(smooth=1, jsonl=out, record=record, max_frames=20))
        finally:
            camera.close()
        labels = {json.loads(line)["label"] for line in out.read_text().splitlines()}
        assert labels == {"green"} and scales[-1] == expected_scale, (labels, scales)


def test_decoding_options_and_a_hardware_decoder_that_is_not_there(color_model, clip):
    from typer.testing import CliRunner

    from edgecls.cli import app
    from edgecls.core.errors import StreamError
    from edgecls.runtime.captures import Decoding, threads_for

    assert Decoding("QSV").hwaccel == "mfx" and Decoding().hwaccel == "auto"
    with pytest.raises(StreamError, match="has no cuda decoder; it offers auto, none, vaapi"):
        Decoding("cuda")
    assert threads_for(Decoding(threads=3), 10) == 3 and threads_for(Decoding(), 10**6) == 1
    path, states = clip
    runner = CliRunner()
    result = runner.invoke(app, ["serve-camera", str(color_model), "--source", str(path), "--hwaccel", "nvdec"])
    assert result.exit_code == 2 and "--hwaccel nvdec" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["serve-camera", str(color_model), "--source", str(path), "--hwaccel", "vaapi"])
    if os.path.exists("/dev/dri"):  # a machine with a GPU may decode it: then every frame is read
        assert result.exit_code == 0 or "--hwaccel vaapi could not decode it" in result.output
    else:  # refused at once, with the fix: not waited for like a camera that is down
        assert result.exit_code == 2 and "--hwaccel vaapi could not decode it" in result.output
        assert "use --hwaccel auto or none" in result.output and "Traceback" not in result.output
    for hwaccel, threads in (("none", "1"), ("auto", "0")):
        args = ["serve-camera", str(color_model), "--source", str(path), "--hwaccel", hwaccel, "--decode-threads", threads]
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and f"frames read {len(states)}, processed {len(states)}" in result.output
