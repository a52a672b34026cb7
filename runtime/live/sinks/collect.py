"""`--collect DIR`: the crops that teach the most, saved as a folder ready to train on (see `live.collect`)."""

from __future__ import annotations

from collections.abc import Callable

from edgecls.runtime.live.collect import Collector, check_folder
from edgecls.runtime.live.config import LiveConfig
from edgecls.runtime.live.light import crop_roi, scaled_roi

from .base import CameraResult, Figure, Run, Sink


class CollectSink(Sink):
    def __init__(self, config: LiveConfig, notify: Callable[[str], None]) -> None:
        assert config.collect is not None
        self.settings = config.collect
        self.notify = notify
        self.collector: Collector | None = None
        self.held = check_folder(self.settings.folder)  # a folder that cannot be written stops the run before the first frame

    def open(self, run: Run) -> None:
        self.collector = Collector(self.settings, run.status().classes, run.model, self.notify, held=self.held)

    def on_frame(self, result: CameraResult) -> None:
        assert self.collector is not None
        frame = result.frame
        for light in result.lights:
            if light.classified and light.probabilities is not None:
                region = crop_roi(frame.image, scaled_roi(light.roi, frame.scale))
                record = light.record
                self.collector.offer(
                    result.camera,
                    light.light,
                    region,
                    light.probabilities,
                    record["state"],
                    light.reason,
                    record["time"],
                    record["frame"],
                )

    def close(self) -> list[str]:
        if self.collector is None:
            return []
        self.collector.close()
        dropped = f", {self.collector.dropped} dropped (the disk was behind)" if self.collector.dropped else ""
        self.notify(f"collect: saved {self.collector.saved} crop(s) to {self.settings.folder}{dropped}")
        return []

    def figures(self) -> list[Figure]:
        collector = self.collector
        return [
            Figure("edgecls_collect_saved", "Crops saved by --collect.", collector.saved if collector else 0),
            Figure("edgecls_collect_dropped", "Crops --collect dropped: its queue was full or the disk failed.", collector.dropped if collector else 0),
        ]


def make(config: LiveConfig, notify: Callable[[str], None]) -> Sink | None:
    return CollectSink(config, notify) if config.collect is not None else None
