"""`--mqtt`: every light's state on an MQTT broker with Home Assistant discovery (see `live.mqtt`)."""

from __future__ import annotations

from collections.abc import Callable

from edgecls.runtime.live.config import LiveConfig
from edgecls.runtime.live.mqtt import MqttPublisher

from .base import Figure, Run, Sink


class MqttSink(Sink):
    def __init__(self, config: LiveConfig, notify: Callable[[str], None]) -> None:
        assert config.mqtt is not None
        self.publisher = MqttPublisher(config.mqtt, notify)

    def open(self, run: Run) -> None:
        self.publisher.start(run.status, run.model)

    def on_change(self, event: dict) -> None:
        self.publisher.changed(event["light"])  # the publisher's thread sends it

    def close(self) -> list[str]:
        self.publisher.close()
        return []

    def figures(self) -> list[Figure]:
        publisher = self.publisher
        return [
            Figure("edgecls_mqtt_messages_published", "MQTT messages handed to the broker.", publisher.published),
            Figure(
                "edgecls_mqtt_states_dropped",
                "Changes of state never published: a newer state replaced them while the broker was away.",
                publisher.dropped,
            ),
            Figure("edgecls_mqtt_connections", "Connections made to the MQTT broker.", publisher.connections),
        ]


def make(config: LiveConfig, notify: Callable[[str], None]) -> Sink | None:
    return MqttSink(config, notify) if config.mqtt is not None else None
