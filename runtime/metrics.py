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
    from edgecls.runtime.live import _FrameWork
    from edgecls.runtime.streams import FrameSource
    from edgecls.runtime.webhook import Webhook

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LiveMetrics:
    """The figures of one source and its light (the loop's `work`): observe latencies, render."""

    def __init__(self, source: FrameSource, work: _FrameWork, webhook: Webhook | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "edgecls_latency_seconds",
            "Capture (or hand-over, for a file) to classified state, per frame.",
            ["source"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=self.registry,
        ).labels(str(source.spec))
        self.registry.register(_Figures(source, work, webhook))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Figures(Collector):
    """The counters and gauges, read from the source's and the loop's own figures at each scrape."""

    def __init__(self, source: FrameSource, work: _FrameWork, webhook: Webhook | None) -> None:
        self.source, self.work, self.webhook = source, work, webhook

    def collect(self) -> Iterator[Metric]:
        name, stats, work = str(self.source.spec), self.source.stats, self.work
        light = work.config.light
        for metric, help_text, value in (
            ("edgecls_frames_read", "Frames read from the source.", stats.frames_read),
            ("edgecls_frames_processed", "Frames classified.", work.summary.processed),
            ("edgecls_frames_dropped", "Frames a newer one replaced before they were classified.", stats.dropped),
            ("edgecls_reconnects", "Times the source was lost and reopened.", stats.reconnects),
            ("edgecls_frozen", "Times the source froze (a read waited out its timeout).", stats.frozen),
        ):
            family = CounterMetricFamily(metric, help_text, labels=["source"])
            family.add_metric([name], value)
            yield family
        connected = GaugeMetricFamily("edgecls_source_connected", "1 while the source delivers frames.", labels=["source"])
        connected.add_metric([name], 1.0 if self.source.connected or not self.source.live else 0.0)
        yield connected
        current = work.state
        state = GaugeMetricFamily("edgecls_light_state", "1 for the light's reported state.", labels=["light", "state"])
        for known in dict.fromkeys((*work.classifier.info.classes, "unknown", current)):
            state.add_metric([light, known], 1.0 if known == current else 0.0)
        yield state
        events = CounterMetricFamily("edgecls_state_changes", "Changes of the reported state.", labels=["light"])
        events.add_metric([light], work.changes)
        yield events
        if self.webhook is not None:
            for metric, help_text, value in (
                ("edgecls_webhook_events_sent", "Events the webhook accepted.", self.webhook.sent),
                ("edgecls_webhook_events_failed", "Events not delivered after every retry.", self.webhook.failed),
                ("edgecls_webhook_retries", "POSTs repeated after a failure.", self.webhook.retries),
            ):
                family = CounterMetricFamily(metric, help_text)
                family.add_metric([], value)
                yield family
