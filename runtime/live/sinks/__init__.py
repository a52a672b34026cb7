"""Every output of a live run is a sink (see `base`): one file each, made from the configuration
by its `make`, which returns None when the configuration does not ask for it."""

from __future__ import annotations

from collections.abc import Callable

from edgecls.runtime.live.config import LiveConfig
from edgecls.runtime.live.sinks import collect, events, http, jsonl, mqtt, record, webhook, window

from .base import Sink, close_all

# The order is the order outputs see each frame and are closed in.
SINKS: tuple[Callable[[LiveConfig, Callable[[str], None]], Sink | None], ...] = (
    jsonl.make,
    events.make,
    record.make,
    window.make,
    http.make,
    webhook.make,
    mqtt.make,
    collect.make,
)


def make_sinks(config: LiveConfig, notify: Callable[[str], None]) -> list[Sink]:
    """Every sink the configuration asks for; if one cannot be made, those made before it are
    closed and the error raised."""
    sinks: list[Sink] = []
    try:
        for make in SINKS:
            sink = make(config, notify)
            if sink is not None:
                sinks.append(sink)
    except BaseException:
        close_all(sinks)
        raise
    return sinks
