"""What the HTTP view shows: the newest state of every light, the last changes and each camera's
newest annotated frame, published by the HTTP sink and read by the server's handlers (thread-safe)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .status import LightStatus, Status

if TYPE_CHECKING:
    from .metrics import LiveMetrics


class LiveState:
    """What the processing loop publishes and the HTTP handlers read (thread-safe)."""

    def __init__(self, stale_after_s: float = 3.0) -> None:
        self.stale_after_s = stale_after_s  # /readyz: a state older than this is not fresh
        self._lock = threading.Condition()
        self._state: dict = {
            "state": "unknown",
            "score": 0.0,
            "fps": 0.0,
            "provider": "",
            "frame": -1,
            "reason": "starting",
            "connected": True,
            "state_score": 0.0,
            "source": "",
            "model": "",
        }
        self._changes: deque[dict] = deque(maxlen=10)  # the newest first
        self._camera_jpegs: dict[str, tuple[int, bytes]] = {}  # each camera's newest annotated frame
        self._watchers: dict[str, int] = {}  # open streams per camera (frames are drawn only then)
        self._changed_at = time.monotonic()
        self._updated = time.monotonic()
        self.closed = False
        self.metrics: LiveMetrics | None = None  # set by the live loop: what /metrics serves
        self.problems: Callable[[], list[str]] = list  # the outputs' problems: each makes /readyz 503
        self.status: Callable[[], Status] | None = None  # the run's snapshot: what /state reads once attached
        self._several: bool | None = None  # the attached run has several lights (its changes name theirs)

    def publish(self, state: dict, jpeg: bytes | None = None) -> None:
        """The one light's newest state (the top level of /state), and optionally its camera's picture."""
        with self._lock:
            self._state = {**self._state, **state}
            self._updated = time.monotonic()
            self._lock.notify_all()
        if jpeg is not None:
            self.publish_camera(self.default_camera(), jpeg)

    def mark(self, **fields: object) -> None:
        """Change fields of the state (a change of state, a lost source) without a new frame."""
        with self._lock:
            self._state = {**self._state, **fields}

    def change(self, event: dict) -> None:
        """A change of a light's reported state (an event): the list of the last changes."""
        with self._lock:
            if self._several is None and self.status is not None:  # known once the run is attached
                self._several = len(self.status().lights) > 1
            several = bool(self._several)
            if self.status is None:  # no run attached: the one state is what was published
                connected = event["reason"] != "source lost"
                self._state = {**self._state, "state": event["to"], "reason": event["reason"], "connected": connected}
                self._changed_at = time.monotonic()
            change = {key: event[key] for key in ("time", "from", "to", "reason")}
            self._changes.appendleft({"light": event["light"], **change} if several else change)

    def snapshot(self) -> dict:
        """What /state answers: from the run's status when one is attached (every light; the one light
        also at the top level), else what was published."""
        status = self.status() if self.status is not None else None
        with self._lock:
            now = time.monotonic()
            lights = [_light(light, status, now) for light in status.lights] if status is not None else []
            common = {"stale_after_s": self.stale_after_s, "changes": list(self._changes), "lights": lights}
            if len(lights) > 1:  # each light has its own state: the top level says only what they share
                return {key: self._state[key] for key in ("provider", "source", "model")} | common
            if lights:
                light = status.lights[0]  # type: ignore[union-attr]
                own = {key: lights[0][key] for key in ("state", "state_score", "fps", "frame", "connected", "reason", "age_s", "in_state_s")}
                return {**self._state, "label": light.label, "score": round(light.score, 4), **own, **common}
            return {
                **self._state,
                "age_s": round(now - self._updated, 3),
                "in_state_s": round(now - self._changed_at, 3),
                **common,
            }

    def readiness(self) -> tuple[bool, str]:
        """Whether the state is fresh (a frame classified within `stale_after_s`, the source there), and why not."""
        state = self.snapshot()
        if self.closed:
            return False, "stopped"
        problems = self.problems()
        if problems:
            return False, "; ".join(problems)
        if len(state["lights"]) > 1:
            problems = [
                f"{light['light']} ({light['camera']}): {problem}"
                for light in state["lights"]
                if (problem := self._light_problem(light))
            ]
            return not problems, "; ".join(problems) or "fresh"
        problem = self._light_problem(state)
        return not problem, problem or "fresh"

    def _light_problem(self, light: dict) -> str:
        """Why a light's state (or the single light's top level) is not fresh; empty when it is."""
        if not light["connected"]:
            return "source lost" if light["frame"] >= 0 else "source not connected yet (waiting for it)"
        if light["frame"] < 0:
            return "no frame classified yet"
        if light["age_s"] > self.stale_after_s:
            return f"no fresh frame for {light['age_s']:.1f}s"
        return ""

    def watching(self, camera: str) -> bool:
        """Whether anyone streams `camera` now (`/stream.mjpg?camera=NAME`): drawing and encoding its
        frames is work for a viewer only."""
        with self._lock:
            return self._watchers.get(camera, 0) > 0

    def publish_camera(self, camera: str, jpeg: bytes) -> None:
        with self._lock:
            sequence = self._camera_jpegs.get(camera, (0, b""))[0] + 1
            self._camera_jpegs[camera] = (sequence, jpeg)
            self._lock.notify_all()

    def cameras(self) -> list[str]:
        """The run's cameras, in order (none before a run is attached)."""
        return [camera.camera for camera in self.status().cameras] if self.status is not None else []

    def camera_jpegs(self, camera: str) -> Iterator[bytes]:
        """Each new annotated frame of `camera` while the caller reads them (counted as a viewer)."""
        with self._lock:
            self._watchers[camera] = self._watchers.get(camera, 0) + 1
        try:
            seen = 0
            while not self.closed:
                with self._lock:
                    if self._camera_jpegs.get(camera, (0, b""))[0] == seen and not self.closed:
                        self._lock.wait(5.0)
                    sequence, jpeg = self._camera_jpegs.get(camera, (0, b""))
                if sequence != seen and jpeg:
                    seen = sequence
                    yield jpeg
        finally:
            with self._lock:
                self._watchers[camera] -= 1

    def default_camera(self) -> str:
        """The camera /stream.mjpg shows when none is named: the first ("" before any light is added)."""
        cameras = self.cameras()
        return cameras[0] if cameras else ""

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._lock.notify_all()


def _light(light: LightStatus, status: Status, now: float) -> dict:
    """One light as /state lists it and /readyz checks it."""
    source = next(camera.source for camera in status.cameras if camera.camera == light.camera)
    return {
        "light": light.light,
        "camera": light.camera,
        "source": source,
        "state": light.state,
        "state_score": round(light.state_score, 4),
        "fps": light.fps,
        "frame": light.frame,
        "connected": light.connected,
        "reason": light.reason,
        "age_s": round(now - light.updated_at, 3),
        "in_state_s": round(now - light.changed_at, 3),
    }
