"""Prometheus metrics of a live run, for `/metrics` (through prometheus_client, in the text format).

Counters that the reader and the loop already keep (frames read, processed, dropped, reconnects) are
read when scraped, so nothing is counted twice; inference latency is a histogram the loop observes.
Each run has a registry of its own: two runs in one process never mix their figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from edgecls.runtime.live import _Camera
    from edgecls.runtime.webhook import Webhook

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LiveMetrics:
    """The figures of every camera and light of a run: latencies observed by the loop, the rest read
    from the sources' and lights' own counters at each scrape."""

    def __init__(self, cameras: list[_Camera], webhook: Webhook | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._latency = Histogram(
            "edgecls_latency_seconds",
            "Capture (or hand-over, for a file) to classified state, per light and frame.",
            ["camera", "source"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=self.registry,
        )
        self.registry.register(_Figures(cameras, webhook))

    def observe_latency(self, camera: str, source: str, seconds: float) -> None:
        self._latency.labels(camera, source).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Figures(Collector):
    """The counters and gauges, read from the sources' and the loop's own figures at each scrape."""

    def __init__(self, cameras: list[_Camera], webhook: Webhook | None) -> None:
        self.cameras, self.webhook = cameras, webhook

    def collect(self) -> Iterator[Metric]:
        per_source = (
            ("edgecls_frames_read", "Frames read from the source.", lambda camera: camera.source.stats.frames_read),
            ("edgecls_frames_processed", "Frames classified.", lambda camera: camera.works[0].summary.processed),
            (
                "edgecls_frames_dropped",
                "Frames a newer one replaced before they were classified.",
                lambda camera: camera.source.stats.dropped,
            ),
            ("edgecls_reconnects", "Times the source was lost and reopened.", lambda camera: camera.source.stats.reconnects),
            (
                "edgecls_frozen",
                "Times the source froze (a read waited out its timeout).",
                lambda camera: camera.source.stats.frozen,
            ),
            (
                "edgecls_frames_skipped",
                "Frames that could not be read and were stepped over: a broken part of a stream, a corrupt stretch of a file.",
                lambda camera: camera.source.stats.skipped,
            ),
        )
        # Each camera is its own series (two cameras may read one source); the source says which it is.
        for metric, help_text, value in per_source:
            family = CounterMetricFamily(metric, help_text, labels=["camera", "source"])
            for camera in self.cameras:
                family.add_metric([camera.spec.name, str(camera.source.spec)], value(camera))
            yield family
        connected = GaugeMetricFamily(
            "edgecls_source_connected", "1 while the source delivers frames.", labels=["camera", "source"]
        )
        for camera in self.cameras:
            up = camera.source.connected or not camera.source.live
            connected.add_metric([camera.spec.name, str(camera.source.spec)], 1.0 if up else 0.0)
        yield connected
        state = GaugeMetricFamily("edgecls_light_state", "1 for the light's reported state.", labels=["light", "state"])
        events = CounterMetricFamily("edgecls_state_changes", "Changes of the reported state.", labels=["light"])
        for camera in self.cameras:
            for work in camera.works:
                current = work.state
                for known in dict.fromkeys((*work.classifier.info.classes, "unknown", current)):
                    state.add_metric([work.light, known], 1.0 if known == current else 0.0)
                events.add_metric([work.light], work.changes)
        yield state
        yield events
        if self.webhook is not None:
            for metric, help_text, count in (
                ("edgecls_webhook_events_sent", "Events the webhook accepted.", self.webhook.sent),
                ("edgecls_webhook_events_failed", "Events not delivered after every retry.", self.webhook.failed),
                ("edgecls_webhook_retries", "POSTs repeated after a failure.", self.webhook.retries),
            ):
                family = CounterMetricFamily(metric, help_text)
                family.add_metric([], count)
                yield family
