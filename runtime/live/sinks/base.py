"""The sink protocol and what sinks are given. The outputs of a live run: each is a sink: made from the configuration (files opened, a server
listening, so a mistake stops the run before any source is read), told about the run once it starts
(`open`), then given every classified camera frame (`on_frame`) and every change of a light's
state (`on_change`), and closed once (`close`, which returns what failed). A sink's figures go to
/metrics; a sink's problem makes /readyz answer 503.

The loop knows no sink by name: `sinks.SINKS` lists their makers, each of which returns None when
the configuration does not ask for it. A new output is one file beside this one and one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from edgecls.core.errors import StreamError
from edgecls.runtime.cameras import CameraSpec, Roi
from edgecls.runtime.live.draw import draw_lights, draw_overlay
from edgecls.runtime.live.status import Status
from edgecls.runtime.live.summary import LiveSummary
from edgecls.runtime.streams import Frame


class StopRun(Exception):
    """A sink ends the run on the user's word (the window closed); the message says why."""


@dataclass(frozen=True)
class Figure:
    """One value a sink reports on /metrics (a counter)."""

    name: str
    help: str
    value: float


@dataclass(frozen=True)
class Run:
    """What a sink knows of the run it serves."""

    cameras: tuple[CameraSpec, ...]
    provider: str
    model: str  # the model file's name
    notify: Callable[[str], None]
    status: Callable[[], Status]  # a fresh snapshot on each call
    figures: Callable[[], list[Figure]]  # every sink's figures
    problems: Callable[[], list[str]]  # every sink's problem

    @property
    def single(self) -> bool:
        """One camera with one light: records name neither, and its picture is the light's banner."""
        return len(self.cameras) == 1 and len(self.cameras[0].lights) == 1


@dataclass(frozen=True)
class LightResult:
    light: str
    roi: Roi | None
    record: dict  # frame, time, label, score, state, latency_ms (what --jsonl writes)
    state_score: float
    fps: float
    connected: bool
    probabilities: np.ndarray | None = None  # the model's output for this frame (a gated frame: the reused one)
    classified: bool = True  # the model ran on this frame's crop (False: the change gate reused its last output)
    reason: str = ""  # why the state is what it is (low score, frozen frame ...)


@dataclass
class CameraResult:
    """One camera's classified frame: every light's result, and its picture, drawn once if asked."""

    camera: str
    source: str
    frame: Frame
    lights: list[LightResult]
    single: bool
    provider: str
    _picture: np.ndarray | None = field(default=None, repr=False)

    def picture(self) -> np.ndarray:
        """The annotated frame: the light's banner (one light in the run), else every light boxed."""
        if self._picture is None:
            image = self.frame.image
            if self.frame.scale != 1:  # decoded reduced (nobody was watching when it was read): drawn at full size
                image = cv2.resize(image, None, fx=self.frame.scale, fy=self.frame.scale, interpolation=cv2.INTER_LINEAR)
            if self.single:
                light = self.lights[0]
                state = light.record["state"]
                self._picture = draw_overlay(image, state, light.state_score, light.fps, self.provider, light.roi)
            else:
                boxes = [(light.light, light.roi, light.record["state"], light.state_score) for light in self.lights]
                self._picture = draw_lights(image, boxes)
        return self._picture


class Sink:
    """The protocol; each method does nothing unless a sink needs it."""

    def open(self, run: Run) -> None:
        """The run starts: its cameras and lights are known."""

    def on_frame(self, result: CameraResult) -> None:
        """A camera's classified frame. Raises StreamError when the output fails (the run stops and
        the others flush), StopRun when the user ends the run."""

    def on_change(self, event: dict) -> None:
        """A change of a light's reported state (light, from, to, time, score, reason)."""

    def close(self) -> list[str]:
        """Flush and close; what failed, one line each."""
        return []

    def add_to(self, summary: LiveSummary) -> None:
        """The sink's own figures in the run's summary."""

    def wants_pictures(self, camera: str) -> bool:
        """Whether this output shows `camera`'s frames now (they are then decoded at full size)."""
        return False

    def figures(self) -> list[Figure]:
        return []

    def problem(self) -> str:
        """Why this output is not healthy now; empty when it is."""
        return ""


ONE_LIGHT = "`record` and `show` take one camera with one light; watch several with `http` HOST:PORT."


class PictureSink(Sink):
    """An output of the annotated frames of a run with one camera and one light (a recording, a
    window): refused for more, and always given full-size pictures."""

    def open(self, run: Run) -> None:
        if not run.single:
            raise StreamError(ONE_LIGHT)

    def wants_pictures(self, camera: str) -> bool:
        return True


def close_all(sinks: list[Sink]) -> list[str]:
    """Close every sink, each on its own (one failing does not stop the others)."""
    errors: list[str] = []
    for sink in sinks:
        errors += sink.close()
    return errors
