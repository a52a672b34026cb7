"""Prometheus metrics of a live run, for `/metrics` (through prometheus_client, in the text format).

Counters the reader and the loop already keep (frames read, processed, dropped, reconnects) are read
from the run's status snapshot when scraped, so nothing is counted twice; the sinks add their own
figures (the webhook's deliveries); latency is a histogram the HTTP output observes per frame.
Each run has a registry of its own: two runs in one process never mix their figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from edgecls.runtime.timings import TimingsSnapshot

from .status import CameraStatus, LightStatus, Status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Figure(Protocol):
    name: str
    help: str
    value: float


PER_CAMERA: tuple[tuple[str, str, Callable[[CameraStatus], float]], ...] = (
    ("edgecls_frames_read", "Frames read from the source.", lambda camera: camera.frames_read),
    (
        "edgecls_frames_processed",
        "Frames whose lights' states were updated (by the model, or the change gate's reuse of its last output).",
        lambda camera: camera.processed,
    ),
    ("edgecls_frames_dropped", "Frames a newer one replaced before they were classified.", lambda camera: camera.dropped),
    ("edgecls_reconnects", "Times the source was lost and reopened.", lambda camera: camera.reconnects),
    ("edgecls_frozen", "Times the source froze (a read waited out its timeout).", lambda camera: camera.frozen),
    (
        "edgecls_frames_skipped",
        "Frames that could not be read and were stepped over: a broken part of a stream, a corrupt stretch of a file.",
        lambda camera: camera.skipped,
    ),
    ("edgecls_frames_decoded", "Frames decoded into a picture.", lambda camera: camera.decoded),
    (
        "edgecls_frames_not_decoded",
        "Frames read but passed over undecoded: the camera sends more than its --classify-fps.",
        lambda camera: camera.not_decoded,
    ),
)

PER_LIGHT: tuple[tuple[str, str, Callable[[LightStatus], float]], ...] = (
    ("edgecls_state_changes", "Changes of the reported state.", lambda light: light.state_changes),
    ("edgecls_light_inferences", "Frames the model classified for this light.", lambda light: light.inferences),
    (
        "edgecls_light_gated",
        "Frames the change gate found unchanged since the last classification: the model was not run.",
        lambda light: light.gated,
    ),
)

PER_CAMERA_TIMES: tuple[tuple[str, str, Callable[[CameraStatus], TimingsSnapshot]], ...] = (
    (
        "edgecls_decode_seconds",
        "Time to decode a frame: an MJPEG part's JPEG decode; for other streams the reader's CPU time in the read.",
        lambda camera: camera.decode_seconds,
    ),
    (
        "edgecls_inference_seconds",
        "Time of each model call that classified this camera's lights (one call serves every camera with a fresh frame).",
        lambda camera: camera.inference_seconds,
    ),
)


def _buckets(timings: TimingsSnapshot) -> tuple[list[tuple[str, float]], float]:
    """A snapshot as prometheus_client's histogram takes it: (upper bound, cumulative count) pairs and the sum."""
    bounds = [repr(float(bound)) for bound in timings.bounds] + ["+Inf"]
    return list(zip(bounds, timings.cumulative, strict=True)), timings.sum


class LiveMetrics:
    """The figures of every camera and light of a run: latencies observed per frame, the rest read
    from `status()` and `figures()` at each scrape."""

    def __init__(self, status: Callable[[], Status], figures: Callable[[], list] = list) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._latency = Histogram(
            "edgecls_latency_seconds",
            "Capture (or hand-over, for a file) to classified state, per light and frame.",
            ["camera", "source"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=self.registry,
        )
        self.registry.register(_Figures(status, figures))

    def observe_latency(self, camera: str, source: str, seconds: float) -> None:
        self._latency.labels(camera, source).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Figures(Collector):
    """The counters and gauges, read from a fresh status snapshot at each scrape."""

    def __init__(self, status: Callable[[], Status], figures: Callable[[], list[_Figure]]) -> None:
        self.status, self.figures = status, figures

    def collect(self) -> Iterator[Metric]:
        status = self.status()
        # Each camera is its own series (two cameras may read one source); the source says which it is.
        for metric, help_text, value in PER_CAMERA:
            family = CounterMetricFamily(metric, help_text, labels=["camera", "source"])
            for camera in status.cameras:
                family.add_metric([camera.camera, camera.source], value(camera))
            yield family
        connected = GaugeMetricFamily(
            "edgecls_source_connected", "1 while the source delivers frames.", labels=["camera", "source"]
        )
        for camera in status.cameras:
            connected.add_metric([camera.camera, camera.source], 1.0 if camera.connected else 0.0)
        yield connected
        for metric, help_text, timings in PER_CAMERA_TIMES:
            histogram = HistogramMetricFamily(metric, help_text, labels=["camera", "source"])
            for camera in status.cameras:
                histogram.add_metric([camera.camera, camera.source], *_buckets(timings(camera)))
            yield histogram
        labels = ["camera", "light"]
        state = GaugeMetricFamily("edgecls_light_state", "1 for the light's reported state.", labels=[*labels, "state"])
        for light in status.lights:
            for known in dict.fromkeys((*status.classes, "unknown", light.state)):
                state.add_metric([light.camera, light.light, known], 1.0 if known == light.state else 0.0)
        yield state
        for metric, help_text, of_light in PER_LIGHT:
            family = CounterMetricFamily(metric, help_text, labels=labels)
            for light in status.lights:
                family.add_metric([light.camera, light.light], of_light(light))
            yield family
        for figure in self.figures():
            family = CounterMetricFamily(figure.name, figure.help)
            family.add_metric([], figure.value)
            yield family
