"""The live loop: every light of every camera classified from one thread. Each round takes the newest
frame of every camera that has one (the next, for a file), crops every light, runs the model once
for all of them, and hands each camera's result to every sink (see `sinks`)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgecls.core.errors import StreamError
from edgecls.runtime.cameras import CameraSpec, LightSpec
from edgecls.runtime.live.sinks.base import CameraResult, LightResult, Run, Sink, StopRun, close_all
from edgecls.runtime.model import Classifier
from edgecls.runtime.streams import Frame, FrameSource
from edgecls.runtime.timings import INFERENCE_BUCKETS, Timings

from .config import LiveConfig
from .light import Light
from .sinks import make_sinks
from .status import CameraStatus, LightStatus, Status
from .summary import LiveSummary
from .watch import Watch


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event):
    """SIGTERM sets `stop` (Ctrl-C arrives as KeyboardInterrupt); the old handler is put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_live(
    classifier: Classifier,
    source: FrameSource,
    config: LiveConfig,
    stop: threading.Event | None = None,
    on_status: Callable[[str], None] | None = None,
) -> LiveSummary:
    """Classify frames from a started `source` until it ends, `max_frames` are processed, or a signal:
    one light, `config.light`, inside `config.roi` (the whole frame when None). `run_cameras` with
    one camera and one light.

    Returns a LiveSummary; every output is flushed and the capture released, whatever stopped it.
    `on_status(message)` receives one-line notices for the user: where the HTTP view listens (its real
    port, also when `http` asked for port 0), a source lost or back.
    """
    spec = CameraSpec("cam0", str(source.spec), (LightSpec(config.light, config.roi),))
    return run_cameras(classifier, [(spec, source)], config, stop, on_status)


@dataclass
class Camera:
    """One source, its supervision and the lights read from its frames."""

    spec: CameraSpec
    source: FrameSource
    watch: Watch
    lights: list[Light]
    ended: bool = False
    frame_size: tuple[int, int] | None = None  # the source's frame (width, height), once one was read
    # The model call's time for each round that classified any of this camera's lights (one call
    # serves every camera with a fresh frame in that round).
    inference_times: Timings = field(default_factory=lambda: Timings(INFERENCE_BUCKETS))


def run_cameras(
    classifier: Classifier,
    cameras: list[tuple[CameraSpec, FrameSource]],
    config: LiveConfig,
    stop: threading.Event | None = None,
    on_status: Callable[[str], None] | None = None,
) -> LiveSummary:
    """Classify every light of every camera (a started source each) from one loop. A camera that
    drops is reconnected on its own while the others go on; its lights are `unknown` (source lost)
    meanwhile. Stops when every source has ended, `max_frames` frames are processed, or a signal
    comes. `config.roi` and `config.light` are not used: the lights say.

    Returns a LiveSummary: with several lights, the sums over cameras and a figure per camera.
    """
    stop = stop or threading.Event()
    notify = on_status or (lambda message: None)
    summary = LiveSummary(provider=classifier.provider)
    single = len(cameras) == 1 and len(cameras[0][0].lights) == 1
    try:
        sinks = make_sinks(config, notify)
    except BaseException:
        for _, source in cameras:
            source.stop()
        raise
    wake = threading.Event()
    started = time.perf_counter()
    units = [_camera(classifier, config, spec, source, summary if single else None, notify, wake) for spec, source in cameras]
    try:
        _open(sinks, units, classifier, notify)
        with _stop_on_sigterm(stop):
            summary.stopped_by = _serve(units, classifier, sinks, stop, config.max_frames, wake, summary)
    except KeyboardInterrupt:
        summary.stopped_by = "Ctrl-C"
    finally:
        if stop.is_set() and summary.stopped_by == "end of source":
            summary.stopped_by = "signal"
        for unit in units:
            unit.source.stop()
        summary.seconds = time.perf_counter() - started  # not the outputs' closing (a webhook's last tries)
        summary.errors += close_all(sinks)
        _sum_up(summary, units, status(units, classifier), single)
        for sink in sinks:
            sink.add_to(summary)
    return summary


def _open(sinks: list[Sink], units: list[Camera], classifier: Classifier, notify: Callable[[str], None]) -> None:
    """Tell every sink about the run: its cameras and lights, its status and the other sinks' figures."""
    run = Run(
        cameras=tuple(unit.spec for unit in units),
        provider=classifier.provider,
        model=classifier.path.name,
        notify=notify,
        status=lambda: status(units, classifier),
        figures=lambda: [figure for sink in sinks for figure in sink.figures()],
        problems=lambda: [problem for sink in sinks if (problem := sink.problem())],
    )
    for sink in sinks:
        sink.open(run)


def status(units: list[Camera], classifier: Classifier) -> Status:
    """The run's public snapshot, now."""
    cameras = tuple(
        CameraStatus(
            camera=unit.spec.name,
            source=str(unit.source.spec),
            live=unit.source.live,
            connected=unit.source.connected or not unit.source.live,
            frames_read=unit.source.stats.frames_read,
            processed=unit.lights[0].summary.processed,  # every light of a camera reads the same frames
            dropped=unit.source.stats.dropped,
            reconnects=unit.source.stats.reconnects,
            frozen=unit.source.stats.frozen,
            skipped=unit.source.stats.skipped,
            not_decoded=unit.source.stats.not_decoded,
            decoded=unit.source.stats.decoded,
            decode_seconds=unit.source.decode_times.snapshot(),
            inference_seconds=unit.inference_times.snapshot(),
        )
        for unit in units
    )
    lights = tuple(
        LightStatus(
            light=light.light,
            camera=unit.spec.name,
            state=light.state,
            state_score=light.state_score,
            fps=light.fps,
            connected=light.connected,
            state_changes=light.changes,
            frame=light.frame,
            label=light.label,
            score=light.score,
            reason=light.reason,
            updated_at=light.updated_at,
            changed_at=light.changed_at,
            inferences=light.inferences,
            gated=light.gated,
        )
        for unit in units
        for light in unit.lights
    )
    return Status(classifier.provider, classifier.path.name, classifier.info.classes, cameras, lights)


def _camera(
    classifier: Classifier,
    config: LiveConfig,
    spec: CameraSpec,
    source: FrameSource,
    summary: LiveSummary | None,
    notify: Callable[[str], None],
    wake: threading.Event,
) -> Camera:
    """A camera's pieces; its notices name it when there are several lights (`summary` None)."""
    source.wake = wake
    say = notify if summary is not None else (lambda message: notify(f"{spec.name}: {message}"))
    lights = [
        Light(
            classifier, config, summary or LiveSummary(provider=classifier.provider), say, source, light,
            camera_name=spec.name,
            named=summary is None,  # several lights: each named in messages
        )
        for light in spec.lights
    ]

    def lost() -> None:
        for light in lights:
            light.lost()

    def back() -> None:
        for light in lights:
            light.connected = True

    return Camera(spec, source, Watch(source, config, say, on_lost=lost, on_back=back), lights)


def _sum_up(summary: LiveSummary, units: list[Camera], status: Status, single: bool) -> None:
    """The run's figures from its final status (one light: processed, latencies and the rest are the
    run's own summary already)."""
    for unit, camera in zip(units, status.cameras, strict=True):
        connected = unit.source.connected_seconds() if camera.live else summary.seconds
        summary.frames_read += camera.frames_read
        summary.dropped += camera.dropped
        summary.reconnects += camera.reconnects
        summary.frozen += camera.frozen
        summary.skipped += camera.skipped
        summary.not_decoded += camera.not_decoded
        if single:
            summary.connected_seconds = connected
            continue
        # Several cameras: the run's fps counts every camera's frames, over the longest connection.
        summary.connected_seconds = max(summary.connected_seconds, connected)
        summary.processed += camera.processed
        summary.not_finite += sum(light.summary.not_finite for light in unit.lights)
        summary.latencies_ms.extend(unit.lights[0].summary.latencies_ms)  # the lights of a camera share frames
        lights = [light for light in status.lights if light.camera == camera.camera]
        summary.cameras.append(
            {
                "camera": camera.camera,
                "source": camera.source,
                "frames_read": camera.frames_read,
                "processed": camera.processed,
                "dropped": camera.dropped,
                "reconnects": camera.reconnects,
                "fps": round(camera.processed / connected, 2) if connected > 0 else 0.0,
                "lights": {light.light: {"final_state": light.state, "state_changes": light.state_changes} for light in lights},
            }
        )
    summary.state_changes = sum(light.state_changes for light in status.lights)
    summary.inferences = sum(light.inferences for light in status.lights)
    summary.gated = sum(light.gated for light in status.lights)
    summary.final_state = status.lights[0].state if single else ""


def _serve(
    units: list[Camera],
    classifier: Classifier,
    sinks: list[Sink],
    stop: threading.Event,
    max_frames: int | None,
    wake: threading.Event,
    summary: LiveSummary,
) -> str:
    """The loop: the newest frame of every camera that has one, every light's crop classified in one
    call, each camera's result and each change of state to every sink. Returns why it stopped."""
    processed = 0
    busy = False
    single = len(units) == 1 and len(units[0].lights) == 1
    while not stop.is_set():
        if max_frames is not None and processed >= max_frames:
            return "max_frames"
        if not busy:  # the last round found nothing: sleep until a reader has something (or 0.5 s)
            wake.wait(0.5)
        wake.clear()
        for unit in units:
            unit.source.decode_scale = _decode_scale(unit, classifier.info.input_size, sinks)
        batch = _take_frames(units)
        if all(unit.ended for unit in units):
            break
        busy = bool(batch)
        results = _classify(batch, classifier, single) if batch else []
        processed += len(batch)
        try:
            for event in (event for unit in units for light in unit.lights for event in light.take_events()):
                for sink in sinks:
                    sink.on_change(event)
            for result in results:
                for sink in sinks:
                    sink.on_frame(result)
        except StopRun as reason:
            return str(reason)
        except StreamError as error:  # an output failed: stop, and let the others flush
            summary.errors.append(str(error))
            return "an output failed"
    return "end of source"


def _take_frames(units: list[Camera]) -> list[tuple[Camera, Frame]]:
    """A fresh frame from every camera that has one (the newest, live; the next, a file), and the
    supervision of those that have none."""
    batch = []
    for unit in units:
        if unit.ended:
            continue
        try:
            frame = unit.source.get(timeout_s=0)
        except EOFError:
            unit.ended = True
            continue
        if frame is None:
            unit.watch.idle()
        else:
            unit.watch.frame(frame)
            unit.frame_size = (frame.image.shape[1] * frame.scale, frame.image.shape[0] * frame.scale)
            batch.append((unit, frame))
    return batch


DECODE_SCALES = (8, 4, 2)  # what libjpeg's DCT scaling offers


def _decode_scale(unit: Camera, input_size: tuple[int, int], sinks: list[Sink]) -> int:
    """The largest reduced scale at which every light of `unit` still has at least the model's input
    size in pixels (its ROI, or the whole frame); 1 while an output shows this camera's frames, or
    before the frame's size is known."""
    if unit.frame_size is None or any(sink.wants_pictures(unit.spec.name) for sink in sinks):
        return 1
    sides = [min(light.roi[2:]) if light.roi is not None else min(unit.frame_size) for light in unit.lights]
    needed = max(input_size)
    return next((scale for scale in DECODE_SCALES if min(sides) / scale >= needed), 1)


def _classify(batch: list[tuple[Camera, Frame]], classifier: Classifier, single: bool) -> list[CameraResult]:
    """Every light's crop of every frame in `batch` that the change gate lets through, through the
    model in one call (a gated light reuses its last output); per camera, each light's result (a
    light whose output was not finite is left out, a camera with none too)."""
    received_at = time.perf_counter()
    inputs = [[light.model_input(frame) for light in unit.lights] for unit, frame in batch]
    crops = [crop for camera in inputs for crop in camera if crop is not None]
    outputs = iter(())
    if crops:
        began = time.perf_counter()
        outputs = iter(classifier.predict(np.stack(crops)))
        took = time.perf_counter() - began
        for (unit, _), camera in zip(batch, inputs, strict=True):
            if any(crop is not None for crop in camera):
                unit.inference_times.observe(took)
    results = []
    for (unit, frame), camera in zip(batch, inputs, strict=True):
        done = []
        for light, crop in zip(unit.lights, camera, strict=True):
            probabilities = next(outputs) if crop is not None else light.last_output()
            outcome = light.finish(frame, probabilities, received_at)
            if outcome is not None:
                record, state_score = outcome
                done.append(
                    LightResult(
                        light.light,
                        light.roi,
                        record,
                        state_score,
                        light.fps,
                        light.connected,
                        probabilities,
                        classified=crop is not None,
                        reason=light.reason,
                    )
                )
        if done:
            results.append(CameraResult(unit.spec.name, str(unit.source.spec), frame, done, single, classifier.provider))
    return results
