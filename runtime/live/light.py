"""One light: its region of a camera's frames, classified, smoothed, checked for flashing and for a
frozen picture, and reported as a state with its changes (events)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone

import cv2
import numpy as np

from edgecls.core.errors import StreamError
from edgecls.runtime.cameras import LightSpec
from edgecls.runtime.classify import NOT_FINITE
from edgecls.runtime.gate import ChangeGate
from edgecls.runtime.model import Classifier
from edgecls.runtime.smoothing import UNKNOWN, FlashDetector, StateSmoother
from edgecls.runtime.streams import Frame, FrameSource

from .config import LiveConfig
from .summary import LiveSummary

RATE_WINDOW_S = 2.0  # the live frame rate is measured over the frames of the last two seconds
FREEZE_CHECK_S = 0.25  # how often (media time) a light compares its camera's picture with the last, for a frozen one
GATE_CONFIDENCE = 0.9  # a light's last output is reused by the change gate only when at least this sure


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


def scaled_roi(roi: tuple[int, int, int, int] | None, scale: int) -> tuple[int, int, int, int] | None:
    """`roi` (in the source's pixels) in a frame decoded at 1/`scale`: every pixel of it kept."""
    if roi is None or scale == 1:
        return roi
    x, y, width, height = roi
    x0, y0 = x // scale, y // scale
    return x0, y0, -(-(x + width) // scale) - x0, -(-(y + height) // scale) - y0


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


class Light:
    """One light of a camera: its crop of each frame, classified, smoothed, timed; a record per frame
    and an event per change of its reported state."""

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
        self.gate = ChangeGate(config.heartbeat_s)
        # The gate reuses only an output that was sure (GATE_CONFIDENCE) and agreed with the smoothed
        # state. An unsure light is classified every time: its answers vary from frame to frame, and
        # smoothing needs each of them (one reused would hold an error for a heartbeat).
        self._reused: np.ndarray | None = None  # the output the gate gave for this frame (None: the model runs)
        self.inferences = 0  # frames the model classified for this light
        self.gated = 0  # frames the gate recognised: a remembered output reused, the model not run
        self.state = UNKNOWN  # what is reported: the smoothed state, or flashing_<colour>
        self.state_score = 0.0  # the smoothed score of that state
        self.connected = source.connected or not source.live  # False from a loss until the first frame back
        self.reason = "starting" if self.connected else "waiting for the source"  # of the last change
        self.frame, self.label, self.score = -1, "", 0.0  # the last frame classified, its decision and probability
        self.updated_at = self.changed_at = time.monotonic()
        self.changes = 0
        self._events: list[dict] = []
        self._fingerprint = b""
        self._same_since = 0.0
        self._compared_at = float("-inf")
        self.started = time.perf_counter()
        self.fps = 0.0
        self._recent: deque[float] = deque()  # when each frame of the last RATE_WINDOW_S was done

    def lost(self) -> None:
        """The source dropped: the state is unknown until it is back, and the rate starts over."""
        self.connected = False
        self.state_score = 0.0
        self.smoother.reset()
        self.gate.reset()
        self._reused = None
        self._recent.clear()
        self.fps = 0.0
        self._report(UNKNOWN, 0.0, "source lost")

    def _frozen(self, frame: Frame) -> bool:
        """True once a camera has sent the very same picture for `stall_timeout_s`: a sensor
        always adds noise, so identical frames mean a stuck encoder or a replayed still, not a light."""
        now = self.media_time(frame)
        if now - self._compared_at >= FREEZE_CHECK_S:  # a few looks a second tell a frozen picture as well
            self._compared_at = now
            fingerprint = frame.fingerprint()
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
            self.reason, self.changed_at = reason, time.monotonic()
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

    def model_input(self, frame: Frame) -> np.ndarray | None:
        """The light's region of `frame` as the model takes it (RGB, at its input size), or None when
        the change gate finds it as it was at the last classification (that output is reused). The
        ROI is checked against the first frame (a bad one stops the run) and again, with a notice
        only, when a camera changes its frame size mid-stream."""
        size = (frame.image.shape[1] * frame.scale, frame.image.shape[0] * frame.scale)  # the source's pixels
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
        region = crop_roi(frame.image, scaled_roi(self.roi, frame.scale))
        self._reused = self.gate.reuse(region, self.media_time(frame))
        if self._reused is not None:
            self.gated += 1
            return None
        self.inferences += 1
        return cv2.cvtColor(self.classifier.prepare(region), cv2.COLOR_BGR2RGB)

    def last_output(self) -> np.ndarray:
        """The output the gate reused for this frame (`model_input` gave None)."""
        assert self._reused is not None, "a light is gated only with an output to reuse"
        return self._reused

    def finish(self, frame: Frame, probabilities: np.ndarray, received_at: float) -> tuple[dict, float] | None:
        """The frame's record and smoothed state score from the model's output for this light; None
        for an output that is not finite."""
        now = self.media_time(frame)  # the source's clock: smoothing and flashing in time, at any rate
        if not np.isfinite(probabilities).all():  # skipped and counted, never smoothed or published
            self.summary.not_finite += 1
            if self.summary.not_finite == 1:
                self.notify(f"frame {frame.index}: {NOT_FINITE}; such frames are skipped and counted")
            self.gate.classified(None, now, reusable=False)
            return None
        best = self.classifier.info.decide(probabilities)
        state, state_score = self.smoother.update(probabilities, now)
        if self._reused is None:  # the model's own output: the gate remembers it if it may stand in
            label = self.classifier.info.classes[best]
            self.gate.classified(probabilities, now, reusable=label == state and float(probabilities[best]) >= GATE_CONFIDENCE)
        self.state_score = state_score
        state = self.flashes.update(now, state)  # a colour blinking with off: flashing
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
        self.frame, self.label, self.score = frame.index, self.classifier.info.classes[best], float(probabilities[best])
        self.updated_at = time.monotonic()
        return record, state_score
