"""A real MQTT broker on loopback for the tests (Debian's mosquitto, which `.ci/run` installs), and a
subscriber that keeps every message it receives."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import defaultdict
from pathlib import Path

import pytest

from .loopback import free_port
from .waiting import wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def needs_mosquitto() -> None:
    """Fail (on CI) or skip with the reason (elsewhere) when mosquitto is not installed."""
    if not Path(MOSQUITTO).exists():
        import os

        message = "needs Debian's mosquitto (apt-get install mosquitto; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class Broker:
    """mosquitto on 127.0.0.1:`port` (a free one by default), anonymous or with a password file,
    without persistence: a restart forgets every retained message, as a broker that lost its disk."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, port: int = 0) -> None:
        needs_mosquitto()
        self.port = port or free_port()
        self.folder = folder
        import getpass

        # Started as root, mosquitto would switch to its own user, who cannot read the test's files.
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
        if users:
            passwords = folder / "passwords"
            for index, (user, password) in enumerate(users.items()):
                flags = ["-b", "-c"] if index == 0 else ["-b"]
                subprocess.run(["mosquitto_passwd", *flags, str(passwords), user, password], check=True)
            passwords.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        import socket

        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0

        assert wait_until(listening, 10), "mosquitto did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Subscriber:
    """A client subscribed to `topics` (every topic by default) that keeps each message as
    (payload text, retained flag), per topic, in order."""

    def __init__(self, broker: Broker, topics: str = "#", user: str | None = None, password: str | None = None) -> None:
        import paho.mqtt.client as paho

        self.messages: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        if user:
            client.username_pw_set(user, password)

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            client.subscribe(topics, qos=1)

        def on_subscribe(*args) -> None:
            self.subscribed.set()

        def on_message(client, userdata, message) -> None:
            with self.lock:
                self.messages[message.topic].append((message.payload.decode(), bool(message.retain)))

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        client.connect("127.0.0.1", broker.port, keepalive=10)
        client.loop_start()
        self.client = client
        assert self.subscribed.wait(10), "the subscriber could not subscribe"

    def payloads(self, topic: str) -> list[str]:
        with self.lock:
            return [payload for payload, _ in self.messages.get(topic, [])]

    def last(self, topic: str) -> str | None:
        payloads = self.payloads(topic)
        return payloads[-1] if payloads else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
