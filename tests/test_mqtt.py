"""serve-camera --mqtt against a real broker (mosquitto on loopback): states, attributes and Home
Assistant discovery, retained for a late subscriber; availability and the last will on SIGKILL; a
broker that restarts or is down at start; a password file; bad settings in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from helpers.broker import Broker, Subscriber
from helpers.clips import write_clip
from helpers.loopback import MjpegServer
from helpers.waiting import wait_until

from edgecls.core.errors import StreamError
from edgecls.runtime import load_classifier
from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.live.mqtt import mqtt_settings
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FrameSource

STATE = "edgecls/cam0/light/state"  # one source: camera cam0, its light `light`
ATTRIBUTES = "edgecls/cam0/light/attributes"
AVAILABILITY = "edgecls/availability"
DISCOVERY = "homeassistant/sensor/edgecls_cam0_light/config"


def test_settings_are_checked_and_credentials_come_from_url_environment_or_table(tmp_path):
    settings = mqtt_settings("mqtts://broker.local", prefix="site/a")
    assert settings is not None and (settings.host, settings.port, settings.tls, settings.prefix) == ("broker.local", 8883, True, "site/a")
    from_url = mqtt_settings("mqtt://u%40x:p%2Fw@h:1884", environ={"EDGECLS_MQTT_USER": "env"})
    assert from_url is not None and (from_url.user, from_url.password, from_url.port) == ("u@x", "p/w", 1884)
    environ = {"EDGECLS_MQTT_USER": "env-user", "EDGECLS_MQTT_PASSWORD": "env-pass"}
    from_env = mqtt_settings(None, table={"url": "mqtt://h", "user": "t", "password": "tp"}, environ=environ)
    assert from_env is not None and (from_env.user, from_env.password) == ("env-user", "env-pass")
    from_table = mqtt_settings(None, table={"url": "mqtt://h", "user": "t", "password": "tp"}, environ={})
    assert from_table is not None and (from_table.user, from_table.password) == ("t", "tp")
    assert "tp" not in repr(from_table) and "env-pass" not in repr(from_env)
    assert mqtt_settings(None) is None
    for url, fragment in (
        ("http://h", "must be mqtt://"),
        ("mqtt://", "must be mqtt://"),
        ("mqtt://h:99999", "must be mqtt://"),
        ("mqtt://u:secret@h/topic", "must be mqtt://"),
    ):
        with pytest.raises(StreamError, match=fragment) as error:
            mqtt_settings(url)
        assert "secret" not in str(error.value)
    with pytest.raises(StreamError, match="no such file"):
        mqtt_settings("mqtts://h", ca=tmp_path / "missing.pem")
    with pytest.raises(StreamError, match="mqtt_prefix"):
        mqtt_settings("mqtt://h", prefix="a/+/b")
    with pytest.raises(StreamError, match=r"\[mqtt\] needs `url"):
        mqtt_settings(None, table={"user": "x"})
    with pytest.raises(StreamError, match="unknown key"):
        mqtt_settings(None, table={"url": "mqtt://h", "pasword": "x"})


def run_in_thread(classifier, source, config, notices):
    holder: dict = {}
    stop = threading.Event()

    def run() -> None:
        holder["summary"] = run_live(classifier, source, config, stop=stop, on_status=notices.append)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, stop, holder


def test_states_attributes_and_discovery_reach_the_broker_retained(color_model, tmp_path):
    clip = write_clip(tmp_path / "clip.avi", ["red"] * 30 + ["green"] * 30 + ["blue"] * 30)
    classifier = load_classifier(color_model, "cpu")
    with Broker(tmp_path) as broker, Subscriber(broker) as watcher:
        source = FrameSource(parse_source(str(clip)), realtime=True).start()
        settings = mqtt_settings(broker.url)
        notices: list[str] = []
        summary = run_live(classifier, source, LiveConfig(smooth=1, mqtt=settings), on_status=notices.append)
        assert summary.stopped_by == "end of source"
        assert wait_until(lambda: watcher.payloads(AVAILABILITY)[-1:] == ["offline"], 10)
        assert watcher.payloads(AVAILABILITY)[0] == "online"
        states = [state for state in watcher.payloads(STATE) if state != "unknown"]
        assert [state for index, state in enumerate(states) if state not in states[:index]] == ["red", "green", "blue"]
        attributes = json.loads(watcher.last(ATTRIBUTES) or "{}")
        assert set(attributes) == {"score", "reason", "since", "fps", "model"} and attributes["model"] == "colors.onnx"
        config = json.loads(watcher.last(DISCOVERY) or "{}")
        assert config["state_topic"] == STATE and config["json_attributes_topic"] == ATTRIBUTES
        assert config["availability_topic"] == AVAILABILITY and config["unique_id"] == "edgecls_cam0_light"
        assert config["name"] == "light" and config["device"]["identifiers"] == ["edgecls_cam0"]
        assert any("MQTT: connected to mqtt://127.0.0.1" in notice for notice in notices)
        # A subscriber that comes later gets the retained configs, the last state and `offline`.
        with Subscriber(broker) as late:
            assert wait_until(lambda: late.last(STATE) == "blue" and late.last(AVAILABILITY) == "offline", 5)
            assert late.messages[DISCOVERY][0][1] and late.messages[STATE][0][1]  # retained


def test_names_become_topic_segments_and_clashing_ones_are_refused(color_model, tmp_path):
    from edgecls.runtime.cameras import CameraSpec, LightSpec
    from edgecls.runtime.live import run_cameras

    clip = write_clip(tmp_path / "clip.avi", ["green"] * 10)
    classifier = load_classifier(color_model, "cpu")
    with Broker(tmp_path) as broker, Subscriber(broker) as watcher:
        spec = CameraSpec("North gate #1", str(clip), (LightSpec("main/left"), LightSpec("main+left")))
        source = FrameSource(parse_source(str(clip))).start()
        with pytest.raises(StreamError, match="both publish to edgecls/North_gate__1/main_left/state"):
            run_cameras(classifier, [(spec, source)], LiveConfig(mqtt=mqtt_settings(broker.url)))
        spec = CameraSpec("North gate #1", str(clip), (LightSpec("main/left"),))
        source = FrameSource(parse_source(str(clip)), realtime=True).start()
        run_cameras(classifier, [(spec, source)], LiveConfig(mqtt=mqtt_settings(broker.url, prefix="site/x")))
        assert wait_until(lambda: watcher.last("site/x/North_gate__1/main_left/state") == "green", 5)
        assert wait_until(lambda: watcher.last("site/x/availability") == "offline", 5)


def test_the_last_will_says_offline_when_the_process_is_killed(color_model, tmp_path):
    camera = MjpegServer()
    try:
        with Broker(tmp_path) as broker, Subscriber(broker) as watcher:
            command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(color_model)]
            command += ["--source", f"http://127.0.0.1:{camera.port}/stream.mjpg", "--mqtt", broker.url]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                assert wait_until(lambda: watcher.last(STATE) == "red", 30)
                assert watcher.last(AVAILABILITY) == "online"
                process.send_signal(signal.SIGKILL)
                killed = time.perf_counter()
                assert wait_until(lambda: watcher.last(AVAILABILITY) == "offline", 35)  # the keepalive at most
                assert time.perf_counter() - killed < 35
            finally:
                process.kill()
                process.wait(10)
    finally:
        camera.kill()


def test_a_broker_down_at_start_or_restarted_gets_every_state_again(color_model, tmp_path):
    camera = MjpegServer()
    classifier = load_classifier(color_model, "cpu")
    broker = Broker(tmp_path)
    broker.stop()  # down at start: the run goes on and waits for it
    source = FrameSource(parse_source(f"http://127.0.0.1:{camera.port}/stream.mjpg")).start()
    notices: list[str] = []
    thread, stop, holder = run_in_thread(classifier, source, LiveConfig(mqtt=mqtt_settings(broker.url)), notices)
    try:
        assert wait_until(lambda: any("not reachable; retrying in the background" in n for n in notices), 10)
        processed = source.stats.frames_read
        assert wait_until(lambda: source.stats.frames_read > processed + 20, 10)  # the loop goes on
        broker.start()
        started = time.perf_counter()
        with Subscriber(broker) as watcher:
            assert wait_until(lambda: watcher.last(STATE) == "red" and watcher.last(AVAILABILITY) == "online", 30)
            assert time.perf_counter() - started < 30
        broker.stop()  # a restart forgets every retained message: they are published again
        time.sleep(1.0)
        broker.start()
        restarted = time.perf_counter()
        with Subscriber(broker) as watcher:
            assert wait_until(lambda: watcher.last(STATE) == "red" and watcher.last(AVAILABILITY) == "online", 30)
            assert time.perf_counter() - restarted < 30
            assert watcher.last(DISCOVERY) is not None
        assert any("MQTT: reconnected" in notice for notice in notices)
    finally:
        stop.set()
        thread.join(20)
        broker.stop()
        camera.kill()
    assert holder["summary"].stopped_by == "signal"


def test_a_password_file_broker_takes_credentials_from_the_environment(color_model, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from edgecls.cli import app

    clip = write_clip(tmp_path / "clip.avi", ["green"] * 40)
    with (
        Broker(tmp_path, users={"edge": "s3cret-pass"}) as broker,
        Subscriber(broker, user="edge", password="s3cret-pass") as watcher,
    ):
        monkeypatch.setenv("EDGECLS_MQTT_USER", "edge")
        monkeypatch.setenv("EDGECLS_MQTT_PASSWORD", "s3cret-pass")
        args = ["serve-camera", str(color_model), "--source", str(clip), "--realtime", "--mqtt", broker.url]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert wait_until(lambda: watcher.last(STATE) == "green", 5) and "s3cret" not in result.output
        monkeypatch.setenv("EDGECLS_MQTT_PASSWORD", "wrong-pass")
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0 and "refused the connection: Not authorized" in result.output
        assert "wrong-pass" not in result.output


def test_bad_mqtt_options_are_one_line(color_model, tmp_path):
    from typer.testing import CliRunner

    from edgecls.cli import app

    clip = write_clip(tmp_path / "clip.avi", ["green"] * 5)
    runner = CliRunner()
    base = ["serve-camera", str(color_model), "--source", str(clip)]
    result = runner.invoke(app, [*base, "--mqtt", "tcp://user:hunter2@broker"])
    assert result.exit_code == 2 and "--mqtt must be mqtt://" in result.output and "hunter2" not in result.output
    result = runner.invoke(app, [*base, "--mqtt", "mqtt://${NO_SUCH_BROKER_VAR}"])
    assert result.exit_code == 2 and "NO_SUCH_BROKER_VAR" in result.output
    config = tmp_path / "cameras.toml"
    config.write_text(f'[mqtt]\nurl = "mqtt://u:p@127.0.0.1:1"\n[[camera]]\nsource = "{clip}"\n')
    os.chmod(config, 0o644)
    result = runner.invoke(app, ["serve-camera", str(color_model), "--config", str(config), "--max-frames", "3"])
    assert "holds credentials and other users of this machine can read it" in result.output
    assert "not reachable; retrying in the background" in result.output and result.exit_code == 0


def test_changes_while_the_broker_is_away_are_counted_and_only_the_newest_is_sent(tmp_path):
    from edgecls.runtime.live.mqtt import MqttPublisher
    from edgecls.runtime.live.status import CameraStatus, LightStatus, Status

    current = {"state": "red"}

    def status() -> Status:
        camera = CameraStatus("cam0", "test", True, True, 0, 0, 0, 0, 0, 0)
        light = LightStatus("light", "cam0", current["state"], 0.9, 5.0, True, 0)
        return Status("cpu", "m.onnx", ("red", "green", "blue"), (camera,), (light,))

    broker = Broker(tmp_path)
    broker.stop()
    publisher = MqttPublisher(mqtt_settings(broker.url), notify=lambda message: None)
    publisher.start(status, "m.onnx")
    try:
        for state in ("green", "blue", "red", "green"):  # four changes, the broker away
            current["state"] = state
            publisher.changed("light")
        broker.start()
        with Subscriber(broker) as watcher:
            assert wait_until(lambda: watcher.last(STATE) == "green", 30)
            assert watcher.payloads(STATE) == ["green"]  # the newest only
        assert publisher.dropped == 3 and publisher.published >= 4  # online, config, attributes, state
    finally:
        publisher.close()
        broker.stop()
