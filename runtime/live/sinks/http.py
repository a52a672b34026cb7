"""`--http`: the live page, /state, /stream.mjpg, /healthz, /readyz and /metrics (see `live.http`)."""

from __future__ import annotations

from collections.abc import Callable

import cv2

from edgecls.runtime.live.config import LiveConfig
from edgecls.runtime.live.http import LiveServer, LiveState, is_loopback, start_server
from edgecls.runtime.live.metrics import LiveMetrics

from .base import CameraResult, Run, Sink

JPEG_QUALITY = 80


class HttpSink(Sink):
    def __init__(self, config: LiveConfig) -> None:
        self.live_state = LiveState(stale_after_s=config.stall_timeout_s)
        self.token = config.http_token
        self.server: LiveServer = start_server(
            config.http or "", self.live_state, allow_hosts=config.http_allow_host, token=config.http_token
        )
        self.metrics: LiveMetrics | None = None

    def open(self, run: Run) -> None:
        """What the page shows besides frames (sources, lights, model, /metrics), and where it listens."""
        self.metrics = LiveMetrics(run.status, run.figures)
        self.live_state.metrics = self.metrics
        self.live_state.problems = run.problems
        self.live_state.status = run.status  # /state and /readyz read the run's status
        sources = ", ".join(camera.source for camera in run.status().cameras)
        self.live_state.mark(source=sources, model=run.model, provider=run.provider)
        self._notices(run.notify)

    def _notices(self, notify: Callable[[str], None]) -> None:
        url = self.server.url
        notify(
            f"serving {url} (/state, /stream.mjpg, /healthz, /readyz, /metrics)"
            + ("; every path but /healthz and /readyz needs the token (browsers: open /?token=TOKEN once)" if self.token else "")
        )
        if is_loopback(self.server.host):
            return
        if self.token is None:
            notify(
                f"WARNING: {url} is on a network address: anyone who can reach this machine sees the "
                "cameras, their video and their state. Require a token with `http_token` (or EDGECLS_HTTP_TOKEN), "
                "or serve on 127.0.0.1 behind a proxy with authentication, and keep this machine on a private network."
            )
        else:
            notify(
                f"note: {url} is plain HTTP on a network address: the token and the video cross the "
                "network unencrypted. Keep it on a private network, or put a TLS proxy in front."
            )

    def on_frame(self, result: CameraResult) -> None:
        if self.metrics is not None:
            for light in result.lights:
                self.metrics.observe_latency(result.camera, result.source, light.record["latency_ms"] / 1000)
        if self.live_state.watching(result.camera):  # drawn and encoded only while someone watches it
            jpeg = self._jpeg(result)
            if jpeg is not None:
                self.live_state.publish_camera(result.camera, jpeg)

    def wants_pictures(self, camera: str) -> bool:
        return self.live_state.watching(camera)

    @staticmethod
    def _jpeg(result: CameraResult) -> bytes | None:
        ok, jpeg = cv2.imencode(".jpg", result.picture(), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        return jpeg.tobytes() if ok else None

    def on_change(self, event: dict) -> None:
        self.live_state.change(event)

    def close(self) -> list[str]:
        self.live_state.close()
        self.server.shutdown()
        self.server.server_close()
        return []


def make(config: LiveConfig, notify: Callable[[str], None]) -> Sink | None:
    return HttpSink(config) if config.http else None
