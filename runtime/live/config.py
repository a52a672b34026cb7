"""The options of a live run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgecls.core.files import hold_paths

from .collect import CollectConfig
from .http import check_token
from .mqtt import MqttSettings
from .webhook import check_webhook_url


@dataclass(frozen=True)
class LiveConfig:
    """Options of a live run (see `edgecls serve-camera --help`)."""

    smooth: int = 5
    min_score: float = 0.5
    roi: tuple[int, int, int, int] | None = None  # x, y, width, height in source pixels
    max_frames: int | None = None
    realtime: bool = False
    show: bool = False
    record: Path | None = None
    jsonl: Path | None = None  # a file, or Path("-") for stdout
    events: Path | None = None  # every change of the reported state as one JSON line: a file, or Path("-")
    light: str = "light"  # the light's name in events
    webhook: str | None = None  # an http(s) URL: every event POSTed to it as JSON, retried, off the loop
    http: str | None = None
    http_allow_host: tuple[str, ...] = ()  # Host names a loopback server also answers (a reverse proxy's)
    http_token: str | None = field(default=None, repr=False)  # every path but /healthz and /readyz needs it
    mqtt: MqttSettings | None = None  # publish every light's state there, with Home Assistant discovery
    collect: CollectConfig | None = None  # save the crops that teach the most, as a folder to train on
    heartbeat_s: float = 2.0  # a light whose region has not changed is classified at least this often (0: every time)
    stall_timeout_s: float = 3.0  # a live source without a fresh frame this long is declared lost and reopened

    def __post_init__(self) -> None:
        hold_paths(self, "record", "jsonl", "events")
        if self.webhook is not None:
            check_webhook_url(self.webhook)
        if self.http_token is not None:
            check_token(self.http_token)
