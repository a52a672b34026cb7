"""What the HTTP view shows: the newest state of every light, the last changes and each camera's
newest annotated frame, published by the HTTP sink and read by the server's handlers (thread-safe)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

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
        self._lights: dict[str, dict] = {}  # per light: what /state lists and /readyz checks
        self._camera_jpegs: dict[str, tuple[int, bytes]] = {}  # several cameras: each one's newest annotated frame
        self._watchers: dict[str, int] = {}  # several cameras: open streams per camera (frames are drawn only then)
        self._changed_at = time.monotonic()
        self._updated = time.monotonic()
        self._jpeg: bytes | None = None
        self._sequence = 0
        self.closed = False
        self.metrics: LiveMetrics | None = None  # set by the live loop: what /metrics serves
        self.problems: Callable[[], list[str]] = list  # the outputs' problems: each makes /readyz 503

    def publish(self, state: dict, jpeg: bytes | None) -> None:
        with self._lock:
            self._state = {**self._state, **state}
            self._updated = time.monotonic()
            if jpeg is not None:
                self._jpeg = jpeg
                self._sequence += 1
            self._lock.notify_all()

    def mark(self, **fields: object) -> None:
        """Change fields of the state (a change of state, a lost source) without a new frame."""
        with self._lock:
            self._state = {**self._state, **fields}

    def add_light(self, name: str, camera: str, source: str, connected: bool = True) -> None:
        """A light the run reads (before its first frame: `unknown`, not ready; `connected` False while
        its source has not answered yet)."""
        now = time.monotonic()
        with self._lock:
            if not self._lights:
                self._state["connected"] = connected
            self._lights[name] = {
                "light": name,
                "camera": camera,
                "source": source,
                "state": "unknown",
                "state_score": 0.0,
                "fps": 0.0,
                "frame": -1,
                "connected": connected,
                "reason": "starting" if connected else "waiting for the source",
                "_updated": now,
                "_changed": now,
            }

    def update_light(self, name: str, **fields: object) -> None:
        """A light's newest classified frame: its smoothed state, score, rate and its source's connection."""
        with self._lock:
            entry = self._lights.get(name)
            if entry is not None:
                entry.update(fields, _updated=time.monotonic())

    def change(self, event: dict) -> None:
        """A change of the reported state (an event): the state, its reason, the list of changes."""
        with self._lock:
            connected = event["reason"] != "source lost"
            entry = self._lights.get(event["light"])
            if entry is not None:
                entry.update(state=event["to"], reason=event["reason"], connected=connected, _changed=time.monotonic())
            if len(self._lights) <= 1:  # the page's single-light view
                self._state = {**self._state, "state": event["to"], "reason": event["reason"], "connected": connected}
                self._changed_at = time.monotonic()
            change = {key: event[key] for key in ("time", "from", "to", "reason")}
            self._changes.appendleft({"light": event["light"], **change} if len(self._lights) > 1 else change)

    def snapshot(self) -> dict:
        with self._lock:
            now = time.monotonic()
            lights = [
                {
                    **{key: value for key, value in entry.items() if not key.startswith("_")},
                    "age_s": round(now - entry["_updated"], 3),
                    "in_state_s": round(now - entry["_changed"], 3),
                }
                for entry in self._lights.values()
            ]
            common = {"stale_after_s": self.stale_after_s, "changes": list(self._changes), "lights": lights}
            if len(lights) > 1:  # each light has its own state: the top level says only what they share
                return {key: self._state[key] for key in ("provider", "source", "model")} | common
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
        """The cameras of the lights, in the order they were added."""
        with self._lock:
            return list(dict.fromkeys(entry["camera"] for entry in self._lights.values()))

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

    def jpegs(self) -> Iterator[bytes]:
        """Each new annotated frame of the one light's view."""
        sequence = -1
        while not self.closed:
            sequence, jpeg = self.next_jpeg(sequence)
            if jpeg is not None:
                yield jpeg

    def next_jpeg(self, after: int, timeout_s: float = 5.0) -> tuple[int, bytes | None]:
        with self._lock:
            if self._sequence == after and not self.closed:
                self._lock.wait(timeout_s)
            return self._sequence, self._jpeg

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._lock.notify_all()
