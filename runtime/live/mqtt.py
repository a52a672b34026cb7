"""Every light's state on an MQTT broker, announced to Home Assistant, from a thread of its own.

Topics (`prefix` default `edgecls`; camera and light names with every character outside
`[A-Za-z0-9_-]` replaced by `_`):

- `<prefix>/<camera>/<light>/state`, retained: the reported state (`red`, `flashing_yellow`, `unknown` ...);
- `<prefix>/<camera>/<light>/attributes`, retained JSON: score, reason, since, fps, model;
- `<prefix>/availability`, retained: `online` on connect; `offline` at a clean stop and as the last
  will, so a killed or cut-off process goes `offline` within the keepalive;
- `homeassistant/sensor/<unique_id>/config`, retained: one Home Assistant discovery config per light,
  its device one per camera.

The live loop only wakes the publisher (`changed`); the publisher reads the run's status and sends
what changed, newest first and newest only: a state that a newer one replaced before it could be
sent (the broker away) is counted as dropped, never queued without bound. paho's network thread
reconnects with a backoff capped at 15 s (also when the broker is down at start), and every
connection begins with `online`, the discovery configs and every light's current state.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from edgecls.core.errors import StreamError
from edgecls.runtime.sources import expand_environment, mask_credentials

from .status import LightStatus, Status

MAX_BACKOFF_S = 15  # paho's reconnect delay doubles from 1 s up to this
ATTRIBUTES_EVERY_S = 10.0  # a light's attributes (score, fps) are refreshed this often besides each change
DISCOVERY_PREFIX = "homeassistant"
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def segment(name: str) -> str:
    """`name` as one topic segment: every character outside [A-Za-z0-9_-] becomes `_`."""
    return UNSAFE.sub("_", name) or "_"


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to publish (see `mqtt_settings`)."""

    host: str
    port: int
    tls: bool
    shown: str  # the broker as messages show it: no credentials
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca: Path | None = None
    prefix: str = "edgecls"
    keepalive_s: int = 30


def mqtt_settings(
    url: str | None,
    ca: Path | None = None,
    prefix: str | None = None,
    table: Mapping | None = None,
    environ: Mapping[str, str] | None = None,
) -> MqttSettings | None:
    """The broker from `--mqtt URL` or the config file's `[mqtt]` table (`url`, `user`, `password`,
    `prefix`, `keepalive`), credentials from the URL, else EDGECLS_MQTT_USER / EDGECLS_MQTT_PASSWORD,
    else the table; None when neither asks for MQTT.

    Raises:
        StreamError: a URL that is not mqtt:// or mqtts://HOST[:PORT], a CA file that is not there, a
            prefix that is not a topic, a malformed table; one line naming the option.
    """
    table = dict(table or {})
    environ = environ if environ is not None else {}
    unknown = sorted(set(table) - {"url", "user", "password", "prefix", "keepalive", "ca"})
    if unknown:
        raise StreamError(f"`config` [mqtt]: unknown key(s) {', '.join(unknown)}; known: url, user, password, prefix, keepalive, ca.")
    url = url or table.get("url")
    if not url:
        if table:
            raise StreamError('`config` [mqtt] needs `url = "mqtt://HOST[:PORT]"` (or give `mqtt` on the command line).')
        return None
    if not isinstance(url, str):
        raise StreamError(f"`mqtt` must be a URL such as mqtt://broker.local:1883; received {url!r}.")
    url = expand_environment(url, "mqtt")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    example = "mqtt://[user:pass@]HOST[:PORT] or mqtts://..., e.g. mqtt://192.168.1.10:1883"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if scheme not in ("mqtt", "mqtts") or not parts.hostname or port == -1 or parts.path not in ("", "/") or parts.query:
        raise StreamError(f"`mqtt` must be {example}; received {mask_credentials(url)!r}.")
    user = urllib.parse.unquote(parts.username) if parts.username else environ.get("EDGECLS_MQTT_USER") or table.get("user")
    password = (
        urllib.parse.unquote(parts.password) if parts.password is not None else environ.get("EDGECLS_MQTT_PASSWORD") or table.get("password")
    )
    for name, value in (("user", user), ("password", password)):
        if value is not None and not isinstance(value, str):
            raise StreamError(f"`config` [mqtt] `{name}` must be text.")
    ca = ca or (Path(table["ca"]) if table.get("ca") else None)
    if ca is not None and not ca.is_file():
        raise StreamError(f"`mqtt_ca` {ca}: no such file; give the PEM file of the CA that signed the broker's certificate.")
    prefix = (prefix or table.get("prefix") or "edgecls").strip("/")
    if not isinstance(prefix, str) or not prefix or any(UNSAFE.search(part) or not part for part in prefix.split("/")):
        raise StreamError(f"`mqtt_prefix` must be topic segments of A-Z, a-z, 0-9, _ and - joined by /; received {prefix!r}.")
    keepalive = table.get("keepalive", 30)
    if isinstance(keepalive, bool) or not isinstance(keepalive, int) or not 5 <= keepalive <= 3600:
        raise StreamError(f"`config` [mqtt] `keepalive` must be whole seconds from 5 to 3600; received {keepalive!r}.")
    host = parts.hostname
    tls = scheme == "mqtts"
    port = port or (8883 if tls else 1883)
    shown = f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"
    return MqttSettings(host, port, tls, shown, user or None, password, ca, prefix, keepalive)


@dataclass
class _Light:
    """What has been sent for one light."""

    state: str | None = None  # on the broker now (None: nothing yet on this connection)
    attributes_at: float = 0.0  # time.monotonic() of its last attributes
    changes: int = 0  # changes of state the loop reported since the last state sent


class MqttPublisher:
    """Publishes a run's lights to the broker of `settings` (see the module's description)."""

    def __init__(self, settings: MqttSettings, notify: Callable[[str], None]) -> None:
        try:
            import paho.mqtt.client as paho
        except ImportError:
            raise StreamError("`mqtt` needs the paho-mqtt package: pip install paho-mqtt") from None

        self.settings = settings
        self.notify = notify
        self.published = 0  # messages handed to the broker
        self.dropped = 0  # states replaced by a newer one before they could be sent
        self.connections = 0
        self.refused = ""  # why the broker refused the last connection (bad credentials ...)
        self._lights: dict[tuple[str, str], _Light] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._announce = threading.Event()  # a new connection: online, configs and every state again
        self._connected = threading.Event()
        self._said_waiting = False
        self._status: Callable[[], Status] | None = None
        self._model = ""
        self._thread: threading.Thread | None = None
        availability = f"{settings.prefix}/availability"
        self.availability = availability
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="", protocol=paho.MQTTv311)
        client.will_set(availability, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=MAX_BACKOFF_S)
        client.max_queued_messages_set(1000)
        if settings.user is not None:
            client.username_pw_set(settings.user, settings.password)
        if settings.tls:
            try:
                client.tls_set(ca_certs=str(settings.ca) if settings.ca else None, cert_reqs=ssl.CERT_REQUIRED)
            except (ssl.SSLError, OSError) as error:
                raise StreamError(f"`mqtt_ca` {settings.ca}: not a CA certificate file ({error}).") from None
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self, status: Callable[[], Status], model: str) -> None:
        """Connect in the background (a broker that is not there yet is waited for) and start publishing."""
        self._status, self._model = status, model
        for light in status().lights:
            self._lights[(light.camera, light.light)] = _Light()
        self._check_unique(status())
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="edgecls-mqtt", daemon=True)
        self._thread.start()

    def changed(self, light: str) -> None:
        """A light's state changed (called from the live loop: returns at once)."""
        with self._lock:
            for (_, name), sent in self._lights.items():
                if name == light:
                    sent.changes += 1
        self._wake.set()

    def close(self, timeout_s: float = 5.0) -> None:
        """`offline` (retained) when connected, then disconnect; the last will is not sent."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._connected.is_set():
            info = self.client.publish(self.availability, "offline", qos=1, retain=True)
            if info.rc == 0:  # queued (the connection may have gone meanwhile: the last will says it then)
                info.wait_for_publish(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho's network thread ----------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            message = f"MQTT broker {self.settings.shown} refused the connection: {reason_code}"
            if message != self.refused:
                self.notify(message + " (check the user and password); retrying")
            self.refused = message
            return
        self.refused = ""
        self.connections += 1
        self.notify(f"MQTT: {'connected to' if self.connections == 1 else 'reconnected to'} {self.settings.shown}")
        client.subscribe(f"{DISCOVERY_PREFIX}/status", qos=1)  # Home Assistant says `online` when it restarts
        self._connected.set()
        self._announce.set()
        self._wake.set()

    def _on_connect_fail(self, client, userdata) -> None:
        if not self._said_waiting:
            self._said_waiting = True
            self.notify(
                f"MQTT broker {self.settings.shown} not reachable; retrying in the background (every {MAX_BACKOFF_S} s at most)"
            )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stop.is_set():
            self.notify(f"MQTT: lost {self.settings.shown} ({reason_code}); reconnecting")

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == f"{DISCOVERY_PREFIX}/status" and message.payload == b"online":
            self._announce.set()
            self._wake.set()

    # -- the publisher thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._stop.is_set() or not self._connected.is_set() or self._status is None:
                continue
            status = self._status()
            if self._announce.is_set():
                self._announce.clear()
                self._publish(self.availability, "online")
                for light in status.lights:
                    self._publish(*self.discovery(light))
                with self._lock:
                    for sent in self._lights.values():
                        sent.state = None  # every state again: a restarted broker may have lost them
            self._send_states(status)

    def _send_states(self, status: Status) -> None:
        now = time.monotonic()
        for light in status.lights:
            with self._lock:
                sent = self._lights.setdefault((light.camera, light.light), _Light())
                fresh = sent.state != light.state
                if fresh:
                    self.dropped += max(0, sent.changes - 1)  # replaced before they could be sent
                if fresh:
                    sent.changes = 0
            if fresh or now - sent.attributes_at >= ATTRIBUTES_EVERY_S:
                if not self._publish(self.topic(light, "attributes"), json.dumps(self.attributes(light))):
                    continue
                sent.attributes_at = now
            if fresh and self._publish(self.topic(light, "state"), light.state):
                sent.state = light.state

    def _publish(self, topic: str, payload: str) -> bool:
        info = self.client.publish(topic, payload, qos=1, retain=True)
        if info.rc != 0:  # not connected after all, or paho's queue full: sent again on the next connection
            return False
        self.published += 1
        return True

    # -- what is published --------------------------------------------------------------------------------
    def topic(self, light: LightStatus, kind: str) -> str:
        return f"{self.settings.prefix}/{segment(light.camera)}/{segment(light.light)}/{kind}"

    def unique_id(self, light: LightStatus) -> str:
        return segment(f"{self.settings.prefix.replace('/', '_')}_{light.camera}_{light.light}")

    def attributes(self, light: LightStatus) -> dict:
        since = datetime.now(timezone.utc).timestamp() - (time.monotonic() - light.changed_at)
        return {
            "score": round(light.state_score, 4),
            "reason": light.reason,
            "since": datetime.fromtimestamp(since, timezone.utc).isoformat(timespec="seconds"),
            "fps": round(light.fps, 2),
            "model": self._model,
        }

    def discovery(self, light: LightStatus) -> tuple[str, str]:
        """Home Assistant's discovery config of one light: (topic, JSON), full key names."""
        from edgecls import __version__

        unique_id = self.unique_id(light)
        config = {
            "name": light.light,
            "unique_id": unique_id,
            "state_topic": self.topic(light, "state"),
            "json_attributes_topic": self.topic(light, "attributes"),
            "availability_topic": self.availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            "icon": "mdi:traffic-light",
            "device": {
                "identifiers": [segment(f"{self.settings.prefix.replace('/', '_')}_{light.camera}")],
                "name": light.camera,
                "manufacturer": "edgecls",
                "model": self._model,
                "sw_version": __version__,
            },
            "origin": {"name": "edgecls", "sw_version": __version__},
        }
        return f"{DISCOVERY_PREFIX}/sensor/{unique_id}/config", json.dumps(config)

    def _check_unique(self, status: Status) -> None:
        """Two lights whose names become the same topic would overwrite each other."""
        topics: dict[str, str] = {}
        for light in status.lights:
            topic = self.topic(light, "state")
            if topic in topics:
                raise StreamError(
                    f"`mqtt`: lights {topics[topic]!r} and {light.camera}/{light.light!r} both publish to {topic} "
                    "(names keep only A-Z, a-z, 0-9, _ and -); rename one."
                )
            topics[topic] = f"{light.camera}/{light.light}"
