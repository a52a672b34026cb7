"""Live classification of a video source: read, classify (inside an optional ROI), smooth, draw,
and publish to JSON Lines, a recording, a window and HTTP, until the source ends or a signal comes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import cv2
import numpy as np

from edgecls.core.errors import StreamError
from edgecls.core.files import hold_paths
from edgecls.runtime.cameras import CameraSpec, LightSpec
from edgecls.runtime.classify import NOT_FINITE
from edgecls.runtime.http import LiveState, check_token, is_loopback, start_server
from edgecls.runtime.model import Classifier
from edgecls.runtime.smoothing import UNKNOWN, FlashDetector, StateSmoother
from edgecls.runtime.streams import Frame, FrameSource
from edgecls.runtime.webhook import Webhook, check_webhook_url

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from edgecls.runtime.metrics import LiveMetrics

RATE_WINDOW_S = 2.0  # the live frame rate is measured over the frames of the last two seconds
STATE_COLORS_BGR = {"red": (40, 40, 230), "yellow": (0, 210, 250), "green": (60, 200, 60), UNKNOWN: (200, 200, 200)}


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
    stall_timeout_s: float = 3.0  # a live source without a fresh frame this long is declared lost and reopened

    def __post_init__(self) -> None:
        hold_paths(self, "record", "jsonl", "events")
        if self.webhook is not None:
            check_webhook_url(self.webhook)
        if self.http_token is not None:
            check_token(self.http_token)


@dataclass
class LiveSummary:
    frames_read: int = 0
    processed: int = 0
    dropped: int = 0
    reconnects: int = 0
    state_changes: int = 0
    seconds: float = 0.0
    connected_seconds: float = 0.0  # of `seconds`, how long a live source was connected (a file: all)
    frozen: int = 0  # times a live source froze (a read waited out its timeout): declared lost, reopened
    final_state: str = UNKNOWN
    provider: str = ""
    stopped_by: str = "end of source"
    not_finite: int = 0  # frames whose model output was NaN or infinite
    events_sent: int = 0  # to the webhook
    events_failed: int = 0  # to the webhook, after every retry (or still queued at the stop)
    skipped: int = 0  # frames of a file stepped over (a corrupt stretch)
    errors: list[str] = field(default_factory=list)  # outputs that failed (a full disk ...): non-zero exit
    cameras: list[dict] = field(default_factory=list)  # several lights: each camera's figures and lights
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=10_000), repr=False)  # the newest, bounded

    @property
    def fps(self) -> float:
        """Frames processed per second of time connected: an outage does not dilute it."""
        seconds = min(self.connected_seconds, self.seconds) or self.seconds
        return self.processed / seconds if seconds > 0 else 0.0

    def to_dict(self) -> dict:
        latency = np.percentile(self.latencies_ms, [50, 99]).tolist() if self.latencies_ms else [0.0, 0.0]
        return {
            "frames_read": self.frames_read,
            "processed": self.processed,
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "state_changes": self.state_changes,
            "seconds": round(self.seconds, 3),
            "connected_seconds": round(self.connected_seconds, 3),
            "fps": round(self.fps, 2),
            "frozen": self.frozen,
            "latency_ms_p50": round(latency[0], 2),
            "latency_ms_p99": round(latency[1], 2),
            "final_state": self.final_state,
            "provider": self.provider,
            "stopped_by": self.stopped_by,
            "not_finite": self.not_finite,
            "events_sent": self.events_sent,
            "events_failed": self.events_failed,
            "skipped": self.skipped,
            "errors": self.errors,
            **({"cameras": self.cameras} if self.cameras else {}),
        }

    def line(self) -> str:
        d = self.to_dict()
        return (
            f"frames read {d['frames_read']}, processed {d['processed']}, dropped {d['dropped']}, "
            f"{d['fps']:.1f} fps, latency p50 {d['latency_ms_p50']:.1f} ms, reconnects {d['reconnects']}, "
            f"state changes {d['state_changes']}, stopped by {d['stopped_by']}"
        )


def crop_roi(image: np.ndarray, roi: tuple[int, int, int, int] | None) -> np.ndarray:
    """The ROI clipped to the frame (frames may change size mid-stream); the whole frame if it misses."""
    if roi is None:
        return image
    x, y, width, height = roi
    frame_height, frame_width = image.shape[:2]
    x0, y0 = max(0, min(x, frame_width)), max(0, min(y, frame_height))
    x1, y1 = max(x0, min(x + width, frame_width)), max(y0, min(y + height, frame_height))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image
    return image[y0:y1, x0:x1]


MIN_ROI_SHARE = 0.25  # an ROI less than this much inside the frame is a mistake, not a light at the edge


def check_roi(roi: tuple[int, int, int, int], frame_size: tuple[int, int], where: str) -> str | None:
    """Whether `roi` (x, y, width, height) fits a frame of `frame_size` (width, height): None when it
    lies inside, a warning when part of it is outside (it is clipped).

    Raises:
        StreamError: the ROI misses the frame, is under 2 pixels inside it, or is mostly outside it
            (far larger than the frame), naming `where` (camera and light), the ROI and the frame.
    """
    x, y, width, height = roi
    frame_width, frame_height = frame_size
    inside_width = min(x + width, frame_width) - max(x, 0)
    inside_height = min(y + height, frame_height) - max(y, 0)
    shown = f"{where}: ROI {x},{y},{width},{height} (x, y, width, height)"
    frame = f"the frame is {frame_width}x{frame_height}"
    if inside_width < 2 or inside_height < 2:
        raise StreamError(f"{shown} is not inside the frame ({frame}); give a region of the frame.")
    if inside_width * inside_height < MIN_ROI_SHARE * width * height:
        raise StreamError(f"{shown} lies mostly outside the frame ({frame}); give a region of the frame.")
    if inside_width < width or inside_height < height:
        return f"{shown} reaches past the frame's edge ({frame}): the part inside is classified"
    return None


def draw_overlay(image: np.ndarray, state: str, score: float, fps: float, provider: str, roi) -> np.ndarray:
    """The frame with the smoothed state, score, fps and provider drawn on a banner (a copy)."""
    canvas = image.copy()
    color = STATE_COLORS_BGR.get(state.removeprefix("flashing_"), (255, 255, 255))
    height, width = canvas.shape[:2]
    scale = max(0.5, width / 900)
    banner = int(36 * scale)
    cv2.rectangle(canvas, (0, 0), (width, banner), (20, 20, 20), thickness=-1)
    text = f"{state.upper()} {score:.2f}"
    cv2.putText(canvas, text, (8, int(26 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, color, 2, cv2.LINE_AA)
    info = f"{fps:5.1f} fps  {provider}"
    (text_width, _), _ = cv2.getTextSize(info, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
    cv2.putText(
        canvas,
        info,
        (width - text_width - 8, int(24 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.5 * scale,
        (230, 230, 230),
        1,
        cv2.LINE_AA,
    )
    if roi is not None:
        x, y, w, h = roi
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, 2)
    return canvas


def draw_lights(image: np.ndarray, lights: list[tuple[str, tuple[int, int, int, int] | None, str, float]]) -> np.ndarray:
    """A camera's frame with each light's region boxed in its state's colour and labelled with its
    name, state and score (a copy): the view of one camera among several."""
    canvas = image.copy()
    height, width = canvas.shape[:2]
    scale = max(0.4, width / 1400)
    for name, roi, state, score in lights:
        color = STATE_COLORS_BGR.get(state.removeprefix("flashing_"), (255, 255, 255))
        x, y, w, h = roi if roi is not None else (0, 0, width, height)
        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), color, 2)
        label = f"{name}: {state} {score:.2f}"
        (text_width, text_height), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y - text_height - 6)
        cv2.rectangle(canvas, (x, top), (x + text_width + 6, top + text_height + 6), (20, 20, 20), -1)
        cv2.putText(canvas, label, (x + 3, top + text_height + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)
    return canvas


class _Outputs:
    """JSON Lines, recording, window and HTTP: opened lazily, flushed and closed once."""

    def __init__(self, config: LiveConfig, provider: str, notify: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.provider = provider
        self.notify = notify or (lambda message: None)
        self.webhook: Webhook | None = None
        self._lines: dict[str, _Lines] = {}
        self._writer: cv2.VideoWriter | None = None
        self._writer_size = (0, 0)
        self._record_temp = Path()
        self.server: ThreadingHTTPServer | None = None
        self.live_state = LiveState(stale_after_s=config.stall_timeout_s)
        if (
            config.show
            and sys.platform.startswith("linux")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        ):
            # Without a display OpenCV's window toolkit aborts the whole process; say so instead.
            raise StreamError(
                "`show` needs a display, and none is set (DISPLAY / WAYLAND_DISPLAY). Watch from a browser with "
                "`http` 127.0.0.1:8080, or write the annotated video with `record` OUT.avi."
            )
        self._record_target = config.record or Path()
        if config.record:
            _check_record_target(config.record)
        self._frames_recorded = 0
        try:
            for name, target in (("jsonl", config.jsonl), ("events", config.events)):
                if target is not None:
                    self._lines[name] = _Lines(name, target)
            if config.http:
                self.server = start_server(
                    config.http, self.live_state, allow_hosts=config.http_allow_host, token=config.http_token
                )
            if config.webhook:
                self.webhook = Webhook(config.webhook, on_failure=self.notify)
        except StreamError:
            self.close()  # what was opened before the failure is not left open
            raise

    def event(self, event: dict) -> None:
        """One change of the reported state: to `events`, and to the HTTP state at once."""
        self.live_state.change(event)
        if self.webhook is not None:
            self.webhook.post(event)  # queued: the POST happens on the webhook's own thread
        if "events" in self._lines:
            self._lines["events"].write(event)

    @property
    def needs_overlay(self) -> bool:
        return bool(self.config.record or self.config.show or self.server)

    def write(
        self,
        record: dict,
        frame: np.ndarray | None,
        fps_hint: float,
        state_score: float = 0.0,
        light: str = "",
        connected: bool = True,
    ) -> bool:
        """Send one light's classified frame everywhere (`frame`: the annotated picture, one light
        only); returns False when the user closed the window (q / Esc)."""
        if "jsonl" in self._lines:
            self._lines["jsonl"].write(record)
        if self.server is not None and light:
            self.live_state.update_light(
                light,
                frame=record["frame"],
                state=record["state"],
                state_score=round(state_score, 4),
                fps=fps_hint,
                connected=connected,
            )
        if frame is None:
            return True
        if self.config.record:
            self._record(frame, fps_hint)
        if self.server is not None:
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
            state = {key: record[key] for key in ("frame", "label", "score", "state")}
            state.update(fps=fps_hint, provider=self.provider, state_score=round(state_score, 4), connected=connected)
            self.live_state.publish(state, jpeg.tobytes() if ok else None)
        if self.config.show:
            cv2.imshow("edgecls", frame)
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                return False
        return True

    def _record(self, frame: np.ndarray, fps_hint: float) -> None:
        if self._writer is None:
            target = self._record_target
            self._record_temp = target.with_name(f".{target.stem}.partial{target.suffix}")
            height, width = frame.shape[:2]
            fourcc = cv2.VideoWriter.fourcc(*RECORD_SUFFIXES[target.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._record_temp), fourcc, max(1.0, fps_hint or 25.0), (width, height))
            if not self._writer.isOpened():
                raise StreamError(f"`record` {target}: OpenCV cannot write this file type; use .avi or .mp4.")
            self._writer_size = (width, height)
        if (frame.shape[1], frame.shape[0]) != self._writer_size:
            frame = cv2.resize(frame, self._writer_size)  # the source changed size mid-stream
        self._writer.write(frame)
        self._frames_recorded += 1

    def close(self) -> list[str]:
        """Flush and close every output, each on its own (one failing does not stop the others).
        Returns what failed, one line each."""
        errors = []
        for lines in self._lines.values():
            errors += lines.close()
        if self.webhook is not None:
            self.webhook.close()
            self.notify(self.webhook.summary())
            if self.webhook.failed:
                errors.append(f"`webhook`: {self.webhook.failed} event(s) not delivered ({self.webhook.last_error})")
        if self._writer is not None:
            self._writer.release()
            problem = verify_recording(self._record_temp, self._frames_recorded)
            if problem is None:
                os.replace(self._record_temp, self._record_target)
            elif self._record_temp.exists() and self._record_temp.stat().st_size > 0:
                os.replace(self._record_temp, self._record_target)
                errors.append(f"`record` {self.config.record}: incomplete, {problem}")
            else:
                self._record_temp.unlink(missing_ok=True)
                errors.append(f"`record` {self.config.record}: not written, {problem}")
        if self.server is not None:
            self.live_state.close()
            self.server.shutdown()
            self.server.server_close()
        if self.config.show:
            with contextlib.suppress(cv2.error):
                cv2.destroyAllWindows()
        return errors


class _Lines:
    """One JSON Lines output: a file, line-buffered so a consumer tailing it sees every line as it is
    written, or "-" for stdout (flushed per line). A failure is reported once, naming `parameter`."""

    def __init__(self, parameter: str, target: Path) -> None:
        self.parameter, self.target = parameter, target
        self.failed = False
        self.stream: TextIO = sys.stdout
        if str(target) != "-":
            try:
                self.stream = open(target, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
            except OSError as error:
                raise StreamError(f"`{parameter}` {target}: cannot write there ({error.strerror}).") from None

    def write(self, item: dict) -> None:
        try:
            self.stream.write(json.dumps(item) + "\n")
            if self.stream is sys.stdout:
                self.stream.flush()
        except OSError as error:
            self.failed = True  # reported here, once; close() must not report it again
            raise StreamError(f"`{self.parameter}` {self.target}: write failed ({error.strerror or error})") from None

    def close(self) -> list[str]:
        try:
            if self.stream is sys.stdout:
                sys.stdout.flush()
            else:
                self.stream.close()
        except OSError as error:
            if not self.failed:
                return [f"`{self.parameter}` {self.target}: write failed ({error.strerror or error})"]
        return []


RECORD_SUFFIXES = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v"}


def _check_record_target(target: Path) -> None:
    """Before the first frame: a suffix OpenCV can write, and a folder that exists and takes files.

    Raises:
        StreamError: naming the path and the fix.
    """
    if target.suffix.lower() not in RECORD_SUFFIXES:
        raise StreamError(f"`record` {target}: use a .avi (MJPEG) or .mp4 file name.")
    if not target.parent.is_dir():
        raise StreamError(f"`record` {target}: the folder {target.parent} does not exist. Create it first.")
    probe = target.with_name(f".{target.stem}.probe")
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise StreamError(f"`record` {target}: cannot write in {target.parent} ({error.strerror}).") from None


def verify_recording(path: Path, frames_written: int) -> str | None:
    """None when the file reads back with every frame written; else what is wrong with it. OpenCV's
    writer reports no errors, so a full disk shows only here."""
    if frames_written == 0:
        return None
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            return f"the file cannot be read back (0 of {frames_written} frames; a full disk?)"
        promised = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if 0 < promised < frames_written:
            return f"{promised} of {frames_written} frames in the file (a full disk?)"
        # The header may promise every frame while the data stops short: the last one must read back.
        capture.set(cv2.CAP_PROP_POS_FRAMES, frames_written - 1)
        if not capture.grab():
            return f"the last of {frames_written} frames cannot be read back (a full disk?)"
    finally:
        capture.release()
    return None


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
    one light, `config.light`, inside `config.roi` (the whole frame when None).

    Returns a LiveSummary; every output is flushed and the capture released, whatever stopped it.
    `on_status(message)` receives one-line notices for the user: where the HTTP view listens (its real
    port, also when `http` asked for port 0), a source lost or back.
    """
    spec = CameraSpec("cam0", str(source.spec), (LightSpec(config.light, config.roi),))
    return run_cameras(classifier, [(spec, source)], config, stop, on_status)


def run_cameras(
    classifier: Classifier,
    cameras: list[tuple[CameraSpec, FrameSource]],
    config: LiveConfig,
    stop: threading.Event | None = None,
    on_status: Callable[[str], None] | None = None,
) -> LiveSummary:
    """Classify every light of every camera (a started source each) from one loop: each round takes
    the newest frame of every camera that has one and classifies every light's crop of them in one
    session call. A camera that drops is reconnected on its own while the others go on; its lights
    are `unknown` (source lost) meanwhile. Stops when every source has ended, `max_frames` frames are
    processed, or a signal comes. `config.roi` and `config.light` are not used: the lights say.

    Returns a LiveSummary: with several lights, the sums over cameras and a figure per camera.
    """
    stop = stop or threading.Event()
    notify = on_status or (lambda message: None)
    summary = LiveSummary(provider=classifier.provider)
    single = len(cameras) == 1 and len(cameras[0][0].lights) == 1
    try:
        if not single and (config.record or config.show):
            raise StreamError(
                "`record` and `show` take one camera with one light; watch several with `http` HOST:PORT."
            )
        outputs = _Outputs(config, classifier.provider, notify)
    except BaseException:
        for _, source in cameras:
            source.stop()
        raise
    wake = threading.Event()
    started = time.perf_counter()
    units = [_camera(classifier, config, spec, source, summary if single else None, notify, wake) for spec, source in cameras]
    try:
        if outputs.server is not None:
            _serve_http(outputs, units, notify)
        with _stop_on_sigterm(stop):
            summary.stopped_by = _serve(units, classifier, outputs, stop, config.max_frames, wake, summary)
    except KeyboardInterrupt:
        summary.stopped_by = "Ctrl-C"
    finally:
        if stop.is_set() and summary.stopped_by == "end of source":
            summary.stopped_by = "signal"
        for unit in units:
            unit.source.stop()
        summary.seconds = time.perf_counter() - started  # not the outputs' closing (a webhook's last tries)
        summary.errors += outputs.close()
        _sum_up(summary, units, single)
        if outputs.webhook is not None:
            summary.events_sent, summary.events_failed = outputs.webhook.sent, outputs.webhook.failed
    return summary


@dataclass
class _Camera:
    """One source, its supervision and the lights read from its frames."""

    spec: CameraSpec
    source: FrameSource
    watch: _Watch
    works: list[_FrameWork]
    ended: bool = False


def _camera(
    classifier: Classifier,
    config: LiveConfig,
    spec: CameraSpec,
    source: FrameSource,
    summary: LiveSummary | None,
    notify: Callable[[str], None],
    wake: threading.Event,
) -> _Camera:
    """A camera's pieces; its notices name it when there are several lights (`summary` None)."""
    source.wake = wake
    say = notify if summary is not None else (lambda message: notify(f"{spec.name}: {message}"))
    works = [
        _FrameWork(
            classifier, config, summary or LiveSummary(provider=classifier.provider), say, source, light,
            camera_name=spec.name,
            named=summary is None,  # several lights: each named in messages
        )
        for light in spec.lights
    ]

    def lost() -> None:
        for work in works:
            work.lost()

    def back() -> None:
        for work in works:
            work.connected = True

    return _Camera(spec, source, _Watch(source, config, say, on_lost=lost, on_back=back), works)


def _sum_up(summary: LiveSummary, units: list[_Camera], single: bool) -> None:
    """The run's figures from its sources' and lights' own (one light: they are the run's already)."""
    for unit in units:
        source, stats = unit.source, unit.source.stats
        connected = source.connected_seconds() if source.live else summary.seconds
        summary.frames_read += stats.frames_read
        summary.dropped += stats.dropped
        summary.reconnects += stats.reconnects
        summary.frozen += stats.frozen
        summary.skipped += stats.skipped
        if single:
            summary.connected_seconds = connected
            continue
        # Several cameras: the run's fps counts every camera's frames, over the longest connection.
        summary.connected_seconds = max(summary.connected_seconds, connected)
        first = unit.works[0].summary  # every light of a camera is classified from the same frames
        summary.processed += first.processed
        summary.not_finite += sum(work.summary.not_finite for work in unit.works)
        summary.latencies_ms.extend(first.latencies_ms)
        summary.cameras.append(
            {
                "camera": unit.spec.name,
                "source": str(source.spec),
                "frames_read": stats.frames_read,
                "processed": first.processed,
                "dropped": stats.dropped,
                "reconnects": stats.reconnects,
                "fps": round(first.processed / connected, 2) if connected > 0 else 0.0,
                "lights": {work.light: {"final_state": work.state, "state_changes": work.changes} for work in unit.works},
            }
        )
    summary.state_changes = sum(work.changes for unit in units for work in unit.works)
    summary.final_state = units[0].works[0].state if single else ""


def _serve_http(outputs: _Outputs, units: list[_Camera], notify: Callable[[str], None]) -> None:
    """What the HTTP view shows besides frames (sources, lights, model, /metrics), and where it listens."""
    from edgecls.runtime.metrics import LiveMetrics

    assert outputs.server is not None
    metrics = LiveMetrics(units, outputs.webhook)
    outputs.live_state.metrics = metrics
    sources = ", ".join(str(unit.source.spec) for unit in units)
    outputs.live_state.mark(source=sources, model=units[0].works[0].classifier.path.name, provider=outputs.provider)
    for unit in units:
        for work in unit.works:
            work.metrics = metrics
            outputs.live_state.add_light(work.light, unit.spec.name, str(unit.source.spec), unit.source.connected)
    host, port = str(outputs.server.server_address[0]), int(outputs.server.server_address[1])
    host = f"[{host}]" if ":" in host else host
    guarded = outputs.config.http_token is not None
    notify(
        f"serving http://{host}:{port}/ (/state, /stream.mjpg, /healthz, /readyz, /metrics)"
        + ("; every path but /healthz and /readyz needs the token (browsers: open /?token=TOKEN once)" if guarded else "")
    )
    if is_loopback(str(outputs.server.server_address[0])):
        return
    if not guarded:
        notify(
            f"WARNING: http://{host}:{port}/ is on a network address: anyone who can reach this machine sees the "
            "cameras, their video and their state. Require a token with `http_token` (or EDGECLS_HTTP_TOKEN), "
            "or serve on 127.0.0.1 behind a proxy with authentication, and keep this machine on a private network."
        )
    else:
        notify(
            f"note: http://{host}:{port}/ is plain HTTP on a network address: the token and the video cross the "
            "network unencrypted. Keep it on a private network, or put a TLS proxy in front."
        )


def _serve(
    units: list[_Camera],
    classifier: Classifier,
    outputs: _Outputs,
    stop: threading.Event,
    max_frames: int | None,
    wake: threading.Event,
    summary: LiveSummary,
) -> str:
    """The loop: the newest frame of every camera that has one, every light's crop classified in one
    call, each result sent everywhere. Returns why it stopped."""
    processed = 0
    busy = False
    single = len(units) == 1 and len(units[0].works) == 1
    while not stop.is_set():
        if max_frames is not None and processed >= max_frames:
            return "max_frames"
        if not busy:  # the last round found nothing: sleep until a reader has something (or 0.5 s)
            wake.wait(0.5)
        wake.clear()
        batch = _take_frames(units)
        if all(unit.ended for unit in units):
            break
        busy = bool(batch)
        results = _classify(batch, classifier) if batch else []
        processed += len(batch)
        try:
            for unit in units:
                for work in unit.works:
                    for event in work.take_events():
                        outputs.event(event)
            for unit, frame, done in results:
                if not _send(unit, frame, done, outputs, single):
                    return "window closed"
        except StreamError as error:  # an output failed: stop, and let the others flush
            summary.errors.append(str(error))
            return "an output failed"
    return "end of source"


def _take_frames(units: list[_Camera]) -> list[tuple[_Camera, Frame]]:
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
            batch.append((unit, frame))
    return batch


def _classify(
    batch: list[tuple[_Camera, Frame]], classifier: Classifier
) -> list[tuple[_Camera, Frame, list[tuple[_FrameWork, tuple[dict, float]]]]]:
    """Every light's crop of every frame in `batch` through the model in one call; per frame, each
    light's record and state score (a light whose output was not finite is left out)."""
    received_at = time.perf_counter()
    crops = [work.prepare(frame) for unit, frame in batch for work in unit.works]
    probabilities = classifier.predict(np.stack(crops))
    results = []
    index = 0
    for unit, frame in batch:
        done = []
        for work in unit.works:
            outcome = work.finish(frame, probabilities[index], received_at)
            index += 1
            if outcome is not None:
                done.append((work, outcome))
        results.append((unit, frame, done))
    return results


def _send(
    unit: _Camera, frame: Frame, done: list[tuple[_FrameWork, tuple[dict, float]]], outputs: _Outputs, single: bool
) -> bool:
    """A camera's classified frame to every output; False when the user closed the window."""
    for work, (record, state_score) in done:
        if single:
            overlay = None
            if outputs.needs_overlay:
                overlay = draw_overlay(frame.image, record["state"], state_score, work.fps, work.classifier.provider, work.roi)
            if not outputs.write(record, overlay, work.fps, state_score, work.light, work.connected):
                return False
        else:
            record = {"camera": unit.spec.name, "light": work.light, **record}
            outputs.write(record, None, work.fps, state_score, work.light, work.connected)
    if not single and outputs.server is not None and outputs.live_state.watching(unit.spec.name):
        boxes = [(work.light, work.roi, record["state"], state_score) for work, (record, state_score) in done]
        ok, jpeg = cv2.imencode(".jpg", draw_lights(frame.image, boxes), [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            outputs.live_state.publish_camera(unit.spec.name, jpeg.tobytes())
    return True


class _Watch:
    """Supervision of a source: says when it is lost and back, and reopens one that hangs."""

    def __init__(
        self, source: FrameSource, config: LiveConfig, notify: Callable[[str], None], on_lost, on_back=None
    ) -> None:
        self.source = source
        self.stall_timeout_s = config.stall_timeout_s
        self.notify = notify
        self.on_lost = on_lost
        self.on_back = on_back or (lambda: None)
        self.last_frame_at = time.perf_counter()
        self.connected = source.connected or not source.live
        if not self.connected:
            notify(f"{source.spec} is not there yet; retrying in the background")

    def idle(self) -> None:
        """No frame this time round."""
        source = self.source
        if self.connected and source.live and not source.connected:
            last = source.stats.frames_read - 1  # frames are numbered from 0 everywhere, as in --jsonl
            self.notify(f"source lost after frame {last}; reconnecting" if last >= 0 else "source lost; reconnecting")
            self.connected = False
            self.on_lost()
        # Connected yet silent: a read that never returns (a hung camera). A read that times out is the
        # reader's to handle (it reopens the source), so this waits a second longer. A source that is
        # already reconnecting is left to its own backoff.
        stalled = time.perf_counter() - self.last_frame_at > self.stall_timeout_s + 1.0
        if source.live and source.connected and stalled:
            self.notify(f"no frame for {self.stall_timeout_s:.0f}s; reopening the source")
            source.restart()
            self.last_frame_at = time.perf_counter()

    def frame(self, frame: Frame) -> None:
        if not self.connected:
            self.notify(f"source back at frame {frame.index}")
            self.connected = True
            self.on_back()
        self.last_frame_at = time.perf_counter()


class _FrameWork:
    """The work on one frame: crop, classify, smooth, time; one record per classified frame."""

    def __init__(
        self,
        classifier: Classifier,
        config: LiveConfig,
        summary: LiveSummary,
        notify: Callable[[str], None],
        source: FrameSource,
        light: LightSpec,
        camera_name: str = "cam0",
        named: bool = False,
    ) -> None:
        self.classifier = classifier
        self.camera_name = camera_name
        self.named = named  # messages name the camera and the light (else: the `roi` option)
        self._roi_checked_for: tuple[int, int] | None = None  # the frame size the ROI was checked against
        self.config = config
        self.light, self.roi = light.name, light.roi
        self.source_name = str(source.spec)
        self.summary = summary
        self.notify = notify
        self.live = source.live
        self.camera = source.spec.live  # a camera or stream (not a file, even played in real time)
        self.media_time = source.media_time
        self.smoother = StateSmoother(
            classifier.info.classes, window=config.smooth, min_score=config.min_score, decide=classifier.info.decide
        )
        self.flashes = FlashDetector(classifier.info.classes)
        self.state = UNKNOWN  # what is reported: the smoothed state, or flashing_<colour>
        self.connected = True  # False from the source's loss until its first frame back
        self.changes = 0
        self._events: list[dict] = []
        self._fingerprint = b""
        self._same_since = 0.0
        self.metrics: LiveMetrics | None = None  # with --http: /metrics
        self.started = time.perf_counter()
        self.fps = 0.0
        self._recent: deque[float] = deque()  # when each frame of the last RATE_WINDOW_S was done

    def lost(self) -> None:
        """The source dropped: the state is unknown until it is back, and the rate starts over."""
        self.connected = False
        self.smoother.reset()
        self._recent.clear()
        self.fps = 0.0
        self._report(UNKNOWN, 0.0, "source lost")

    def _frozen(self, frame: Frame) -> bool:
        """True once a camera has sent the very same picture for `stall_timeout_s`: a sensor
        always adds noise, so identical frames mean a stuck encoder or a replayed still, not a light."""
        fingerprint = frame.fingerprint()
        now = self.media_time(frame)
        if fingerprint != self._fingerprint:
            self._fingerprint, self._same_since = fingerprint, now
        return now - self._same_since >= self.config.stall_timeout_s

    def take_events(self) -> list[dict]:
        """The changes of the reported state since the last call."""
        events, self._events = self._events, []
        return events

    def _report(self, state: str, score: float, reason: str) -> None:
        if state != self.state:
            self.changes += 1
            self._events.append(
                {
                    "light": self.light,
                    "from": self.state,
                    "to": state,
                    "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    "score": round(score, 4),
                    "reason": reason,
                }
            )
        self.state = state

    def prepare(self, frame: Frame) -> np.ndarray:
        """The light's region of `frame` as the model takes it: RGB, at its input size. The ROI is
        checked against the first frame (a bad one stops the run) and again, with a notice only, when
        a camera changes its frame size mid-stream."""
        size = (frame.image.shape[1], frame.image.shape[0])
        if self.roi is not None and size != self._roi_checked_for:
            where = f"camera {self.camera_name}, light {self.light}" if self.named else "`roi`"
            try:
                warning = check_roi(self.roi, size, where)
            except StreamError as error:
                if self._roi_checked_for is None:
                    raise
                warning = f"{error} (the frame size changed mid-stream: the part inside is classified, or the whole frame if none)"
            if warning:
                self.notify(warning)
            self._roi_checked_for = size
        return cv2.cvtColor(self.classifier.prepare(crop_roi(frame.image, self.roi)), cv2.COLOR_BGR2RGB)

    def finish(self, frame: Frame, probabilities: np.ndarray, received_at: float) -> tuple[dict, float] | None:
        """The frame's record and smoothed state score from the model's output for this light; None
        for an output that is not finite."""
        if not np.isfinite(probabilities).all():  # skipped and counted, never smoothed or published
            self.summary.not_finite += 1
            if self.summary.not_finite == 1:
                self.notify(f"frame {frame.index}: {NOT_FINITE}; such frames are skipped and counted")
            return None
        best = self.classifier.info.decide(probabilities)
        state, state_score = self.smoother.update(probabilities)
        state = self.flashes.update(self.media_time(frame), state)  # a colour blinking with off: flashing
        if self.camera and self._frozen(frame):
            state, reason = UNKNOWN, "frozen frame"
        else:
            reason = "low score" if state == UNKNOWN else ""
        self._report(state, state_score, reason)
        done = time.perf_counter()
        # Live: from capture to result (waiting included); a file: from hand-over to result.
        latency_ms = (done - (frame.captured_at if self.live else received_at)) * 1000
        self.summary.processed += 1
        self.summary.latencies_ms.append(latency_ms)
        if self.metrics is not None:
            self.metrics.observe_latency(self.camera_name, self.source_name, latency_ms / 1000)
        self._recent.append(done)
        while done - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) > 1:  # frames over the time they took, within the window: never an outage
            self.fps = (len(self._recent) - 1) / max(self._recent[-1] - self._recent[0], 1e-6)
        record = {
            "frame": frame.index,
            "time": round(done - self.started, 4),
            "label": self.classifier.info.classes[best],
            "score": round(float(probabilities[best]), 4),
            "state": state,
            "latency_ms": round(latency_ms, 2),
        }
        return record, state_score
