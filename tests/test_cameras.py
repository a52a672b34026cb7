"""Many cameras, many lights, one loop: the cameras file, batching every light's crop into one model
call, and a camera that dies while the others go on. Generated clips and loopback MJPEG cameras."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.clips import BGR
from helpers.loopback import MjpegServer
from helpers.waiting import wait_until
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.core.errors import StreamError
from edgecls.runtime import load_classifier
from edgecls.runtime.cameras import CameraSpec, LightSpec, cameras_from_sources, read_cameras
from edgecls.runtime.live import LiveConfig, run_cameras
from edgecls.runtime.live.draw import STATE_COLORS_BGR
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FrameSource


def split_clip(path: Path, left: list[str], right: list[str], size=(320, 240)) -> Path:
    """A clip whose left half shows one colour per frame and its right half another."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    for left_state, right_state in zip(left, right, strict=True):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:, : size[0] // 2] = BGR[left_state]
        frame[:, size[0] // 2 :] = BGR[right_state]
        writer.write(frame)
    writer.release()
    return path


def test_the_cameras_file_names_cameras_and_lights(tmp_path):
    config = tmp_path / "cameras.toml"
    config.write_text(
        """
[[camera]]
name = "north"
source = "rtsp://user:secret@10.0.0.5/stream"
[[camera.light]]
name = "north-main"
roi = [0, 0, 160, 240]
[[camera.light]]
name = "north-turn"
roi = [160, 0, 160, 240]

[[camera]]
source = "2"
classify_fps = 10
"""
    )
    cameras = read_cameras(config)
    assert cameras == [
        CameraSpec(
            "north",
            "rtsp://user:secret@10.0.0.5/stream",
            (LightSpec("north-main", (0, 0, 160, 240)), LightSpec("north-turn", (160, 0, 160, 240))),
        ),
        CameraSpec("cam1", "2", (LightSpec("cam1"),), 10.0),  # no lights: one, the whole frame, named as the camera
    ]
    assert cameras_from_sources(["clip.avi"], (1, 2, 3, 4), "light") == [
        CameraSpec("cam0", "clip.avi", (LightSpec("light", (1, 2, 3, 4)),))
    ]
    assert [camera.lights[0].name for camera in cameras_from_sources(["0", "1"], None, "light")] == ["cam0", "cam1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[camera]]\nname = 'a'\n", "camera 1 needs `source"),
        ("[[camera]]\nsource = '0'\n[[camera.light]]\nname = 'x'\nroi = [1, 2, 3]\n", "\\(x\\): roi must be .x, y, width"),
        ("[[camera]]\nsource = '0'\n[[camera.light]]\nroi = [1, 2, 3, 4]\n", "`name` must be a short printable"),
        ("[[camera]]\nsource = '0'\nname = 'a'\n[[camera]]\nsource = '1'\nname = 'a'\n", "repeated: a"),
        ("camera = 3\n", "no \\[\\[camera\\]\\] entries"),
        ("[[camera]\nsource = '0'\n", "not valid TOML"),
        ("[[camera]]\nsource = '0'\nclassify_fps = -2\n", "`classify_fps` must be a number of frames a second"),
        ("[[camera]]\nsource = '0'\nclassify_fps = 'fast'\n", "`classify_fps` must be a number of frames a second"),
    ],
)
def test_a_bad_cameras_file_is_one_line_naming_the_entry(tmp_path, text, message):
    config = tmp_path / "cameras.toml"
    config.write_text(text)
    with pytest.raises(StreamError, match=message):
        read_cameras(config)


def test_roi_with_several_sources_points_to_a_cameras_file(color_model, tmp_path):
    with pytest.raises(StreamError, match="`roi` is for a single `source`"):
        cameras_from_sources(["a.avi", "b.avi"], (0, 0, 10, 10), "light")
    clip = split_clip(tmp_path / "clip.avi", ["red"] * 3, ["green"] * 3)
    result = CliRunner().invoke(
        app, ["serve-camera", str(color_model), "--source", str(clip), "--source", str(clip), "--roi", "0,0,5,5"]
    )
    assert result.exit_code == 2 and "--roi is for a single --source" in result.output
    assert "--config" in result.output and "Traceback" not in result.output


def test_every_light_of_every_camera_is_classified_in_one_call(color_model, tmp_path):
    clips = [
        split_clip(tmp_path / "a.avi", ["red"] * 30, ["green"] * 30),
        split_clip(tmp_path / "b.avi", ["blue"] * 15 + ["green"] * 15, ["red"] * 30),
        split_clip(tmp_path / "c.avi", ["green"] * 30, ["blue"] * 30),
    ]
    cameras = [
        (
            CameraSpec(
                f"cam-{name}",
                str(clip),
                (LightSpec(f"{name}-left", (0, 0, 160, 240)), LightSpec(f"{name}-right", (160, 0, 160, 240))),
            ),
            FrameSource(parse_source(str(clip))).start(),
        )
        for name, clip in zip("abc", clips, strict=True)
    ]
    classifier = load_classifier(color_model, "cpu")
    batch_sizes: list[int] = []
    predict = classifier.predict

    def counting(batch):
        batch_sizes.append(len(batch))
        return predict(batch)

    classifier.predict = counting  # type: ignore[method-assign]
    out, events = tmp_path / "frames.jsonl", tmp_path / "events.jsonl"
    config = LiveConfig(smooth=3, jsonl=out, events=events, heartbeat_s=0.0)  # the gate off: every crop classified
    summary = run_cameras(classifier, cameras, config)
    assert sum(batch_sizes) == 3 * 2 * 30 and max(batch_sizes) == 6  # three files read in step: six crops a call
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 180 and set(records[0]) == {
        "camera",
        "light",
        "frame",
        "time",
        "label",
        "score",
        "state",
        "latency_ms",
    }
    by_light = {}
    for record in records:
        by_light.setdefault(record["light"], []).append(record["label"])
    assert by_light["a-left"] == ["red"] * 30 and by_light["a-right"] == ["green"] * 30
    assert by_light["b-left"] == ["blue"] * 15 + ["green"] * 15 and by_light["c-right"] == ["blue"] * 30
    changes = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(c["from"], c["to"]) for c in changes if c["light"] == "b-left"] == [("unknown", "blue"), ("blue", "green")]
    assert summary.processed == 90 and summary.frames_read == 90 and summary.state_changes == 7
    assert [camera["camera"] for camera in summary.cameras] == ["cam-a", "cam-b", "cam-c"]
    assert summary.cameras[1]["lights"]["b-left"] == {"final_state": "green", "state_changes": 2}


def test_a_camera_that_dies_marks_only_its_own_lights_and_comes_back(color_model, tmp_path):
    servers = [MjpegServer() for _ in range(3)]
    cameras = [
        (
            CameraSpec(f"cam{index}", f"http://127.0.0.1:{server.port}/stream.mjpg", (LightSpec(f"light{index}"),)),
            FrameSource(
                parse_source(f"http://127.0.0.1:{server.port}/stream.mjpg"),
                open_timeout_s=2,
                read_timeout_s=2,
                max_backoff_s=1,
            ).start(),
        )
        for index, server in enumerate(servers)
    ]
    notices: list[str] = []
    stop = threading.Event()
    config = LiveConfig(smooth=1, http="127.0.0.1:0", stall_timeout_s=2.0)
    thread = threading.Thread(
        target=lambda: run_cameras(
            load_classifier(color_model, "cpu"), cameras, config, stop=stop, on_status=notices.append
        )
    )
    thread.start()
    try:
        assert wait_until(lambda: notices and all(source.stats.frames_read > 10 for _, source in cameras))
        base = next(notice for notice in notices if notice.startswith("serving")).split()[1].rstrip("/")

        def ready() -> tuple[int, str]:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=5) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        assert wait_until(lambda: ready()[0] == 200)
        servers[1].kill()
        assert wait_until(lambda: ready()[0] == 503, timeout=10)
        code, reason = ready()
        assert "light1 (cam1): source lost" in reason and "light0" not in reason and "light2" not in reason
        state = json.loads(urllib.request.urlopen(base + "/state", timeout=5).read())
        lights = {light["light"]: light for light in state["lights"]}
        assert lights["light1"]["state"] == "unknown" and not lights["light1"]["connected"]
        assert lights["light0"]["state"] == lights["light2"]["state"] == "red"
        before = [source.stats.frames_read for _, source in cameras]
        assert wait_until(lambda: all(cameras[i][1].stats.frames_read > before[i] + 20 for i in (0, 2)))
        assert cameras[1][1].stats.frames_read == before[1]  # nothing made up for the dead one
        servers[1] = MjpegServer(port=servers[1].port)
        assert wait_until(lambda: ready()[0] == 200, timeout=15)
        assert any(notice.startswith("cam1: source lost") for notice in notices)
        assert any(notice.startswith("cam1: source back") for notice in notices)
    finally:
        stop.set()
        thread.join(10)
        for server in servers:
            server.kill()


def test_each_camera_has_a_video_with_its_lights_boxed(color_model, tmp_path):
    clips = {
        "cam-a": split_clip(tmp_path / "a.avi", ["red"] * 200, ["green"] * 200),
        "cam-b": split_clip(tmp_path / "b.avi", ["blue"] * 200, ["red"] * 200),
    }
    cameras = [
        (
            CameraSpec(
                name,
                str(clip),
                (LightSpec(f"{name}-left", (0, 0, 160, 240)), LightSpec(f"{name}-right", (160, 0, 160, 240))),
            ),
            FrameSource(parse_source(str(clip)), realtime=True).start(),
        )
        for name, clip in clips.items()
    ]
    notices: list[str] = []
    stop = threading.Event()
    config = LiveConfig(smooth=1, http="127.0.0.1:0")
    thread = threading.Thread(
        target=lambda: run_cameras(
            load_classifier(color_model, "cpu"), cameras, config, stop=stop, on_status=notices.append
        )
    )
    thread.start()
    try:
        assert wait_until(lambda: any(notice.startswith("serving") for notice in notices))
        base = next(notice for notice in notices if notice.startswith("serving")).split()[1].rstrip("/")
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(base + "/stream.mjpg?camera=nowhere", timeout=5)
        stream = urllib.request.urlopen(base + "/stream.mjpg?camera=cam-b", timeout=5)
        head = stream.read(200)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        body = head.split(b"\r\n\r\n", 1)[1]
        body += stream.read(length - len(body))
        stream.close()
        picture = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        # cam-b: blue on the left, red on the right. Each light's region is boxed in its state's colour:
        # the left one's state is the colour model's "blue", which has no colour of its own (white).
        assert picture.shape == (240, 320, 3)
        inside, edge = picture[120, 40:120].astype(int), picture[238, 40:120].astype(int)
        assert np.all(inside[:, 0] > 180) and np.all(inside[:, 1:] < 80)  # the blue picture itself
        assert np.all(edge > 180)  # the white box along the region's bottom edge
        right_edge = picture[238, 200:300].astype(int)
        assert np.all(np.abs(right_edge - np.array(STATE_COLORS_BGR["red"])) < 60)
    finally:
        stop.set()
        thread.join(10)


def test_an_roi_outside_the_frame_is_refused_and_one_past_its_edge_is_clipped(color_model, tmp_path):
    from helpers.clips import write_clip

    clip = write_clip(tmp_path / "red.avi", ["red"] * 5, size=(320, 240))
    runner = CliRunner()

    def serve(roi: str):
        return runner.invoke(app, ["serve-camera", str(color_model), "--source", str(clip), "--roi", roi])

    for roi, why in (("1000,1000,50,50", "is not inside"), ("319,0,50,50", "is not inside"), ("0,0,10000,10000", "lies mostly outside")):
        result = serve(roi)
        assert result.exit_code != 0 and "Traceback" not in result.output, result.output
        (error,) = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert f"error: --roi: ROI {roi} (x, y, width, height) {why} the frame (the frame is 320x240)" in error
    result = serve("300,200,40,60")  # 20x40 of it inside: clipped, said once
    assert result.exit_code == 0, result.output
    assert result.output.count("reaches past the frame's edge (the frame is 320x240)") == 1
    # Several lights: the message names the camera and the light.
    config = tmp_path / "cameras.toml"
    config.write_text(
        f"[[camera]]\nname = 'north'\nsource = '{clip}'\n"
        "[[camera.light]]\nname = 'main'\nroi = [0, 0, 100, 100]\n[[camera.light]]\nname = 'turn'\nroi = [400, 0, 50, 50]\n"
    )
    result = runner.invoke(app, ["serve-camera", str(color_model), "--config", str(config)])
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert "camera north, light turn: ROI 400,0,50,50 (x, y, width, height) is not inside the frame" in result.output


def test_two_cameras_on_one_source_are_two_series_on_metrics():
    """Two cameras may read one stream (two views of one junction): each is its own series, labelled
    by camera, so Prometheus never sees one series twice."""
    from prometheus_client.parser import text_string_to_metric_families

    from edgecls.runtime.live import CameraStatus, LightStatus, Status
    from edgecls.runtime.live.metrics import LiveMetrics

    source = "http://cam.local/video"
    cameras = tuple(CameraStatus(name, source, True, True, 7, 5, 2, 0, 0, 2) for name in ("north", "south"))
    lights = tuple(LightStatus(f"{name}-main", name, "red", 0.9, 25.0, True, 1) for name in ("north", "south"))
    metrics = LiveMetrics(lambda: Status("cpu", "m.onnx", ("red", "green"), cameras, lights))
    metrics.observe_latency("north", source, 0.01)
    families = text_string_to_metric_families(metrics.render().decode())
    samples = [(sample.name, tuple(sorted(sample.labels.items()))) for family in families for sample in family.samples]
    assert len(samples) == len(set(samples))
    read = {dict(labels)["camera"]: name for name, labels in samples if name == "edgecls_frames_read_total"}
    assert set(read) == {"north", "south"}
    skipped = [labels for name, labels in samples if name == "edgecls_frames_skipped_total"]
    assert len(skipped) == 2


def test_inference_threads_are_the_cores_share_unless_threads_says(color_model, tmp_path, monkeypatch):
    """--threads is the inference session's; by default each camera gets its share of the cores (one
    thread with as many cameras as cores: a second would spin on a core a decoder needs)."""
    from helpers.clips import write_clip

    import edgecls.runtime.model as model_module
    from edgecls.runtime.providers import usable_cpus

    clip = write_clip(tmp_path / "red.avi", ["red"] * 3, size=(64, 48))
    asked = []
    original = model_module.load_classifier
    monkeypatch.setattr(model_module, "load_classifier", lambda *a, threads=None: asked.append(threads) or original(*a, threads=threads))
    runner = CliRunner()
    for extra in (["--threads", "3"], []):
        result = runner.invoke(app, ["serve-camera", str(color_model), "--source", str(clip), "--source", str(clip), *extra])
        assert result.exit_code == 0, result.output
    assert asked == [3, max(1, usable_cpus() // 2)]
