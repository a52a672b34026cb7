"""The public snapshot of a live run: what /metrics, the summary and the tests read, one frozen
value per call, built from the sources' and lights' own figures."""

from __future__ import annotations

from dataclasses import dataclass

from edgecls.runtime.timings import TimingsSnapshot

NO_TIMINGS = TimingsSnapshot((), (0,), 0.0)


@dataclass(frozen=True)
class CameraStatus:
    camera: str
    source: str  # as it may be shown: credentials masked
    live: bool  # a camera or stream (a file read frame by frame is not)
    connected: bool  # delivering frames now (a file: always)
    frames_read: int
    processed: int  # frames classified
    dropped: int  # frames a newer one replaced before they were classified
    reconnects: int
    frozen: int  # reads that waited out their timeout
    skipped: int  # frames that could not be read: a stream's broken part, a file's corrupt stretch
    not_decoded: int = 0  # frames read but passed over undecoded: more than the camera's classify_fps
    decoded: int = 0  # frames decoded into a picture
    decode_seconds: TimingsSnapshot = NO_TIMINGS  # how long each decode took
    inference_seconds: TimingsSnapshot = NO_TIMINGS  # how long each model call with this camera's lights took


@dataclass(frozen=True)
class LightStatus:
    light: str
    camera: str
    state: str  # as reported: a class, flashing_<colour> or unknown
    state_score: float
    fps: float
    connected: bool
    state_changes: int
    frame: int = -1  # the last frame classified (-1: none yet)
    label: str = ""  # that frame's decision, and its probability
    score: float = 0.0
    reason: str = ""  # why the state is what it is: low score, source lost, frozen frame, starting ...
    updated_at: float = 0.0  # time.monotonic() of the last classification (or of the start)
    changed_at: float = 0.0  # time.monotonic() of the last change of state
    inferences: int = 0  # frames the model classified for this light
    gated: int = 0  # frames the change gate found unchanged (the last output reused)


@dataclass(frozen=True)
class Status:
    provider: str
    model: str  # the model file's name
    classes: tuple[str, ...]
    cameras: tuple[CameraStatus, ...]
    lights: tuple[LightStatus, ...]
