"""Collecting the crops that teach the most, as a folder ready to train on.

For each light, a crop the model classified (never a gated repeat) is kept when the model is unsure
(its top score under `min_score`, or the two best within `MARGIN`; at most one a second per light),
at every change of the light's reported state, and as a sparse sample of confident ones (one per
light every `every_s`). Each goes to `DIR/<top-1 class>/<time>-<camera>-<light>.jpg` with a sidecar
`.json` (time, camera, light, frame, state, reason, scores, model, why), so after moving the wrong ones to
the right folder, `DIR` is training data. Writing happens on a thread of its own behind a bounded
queue (a full queue drops the crop and counts it: the live loop never waits for the disk); the
folder is capped in crops and in megabytes, counting what it held before the run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from edgecls.core.errors import EdgeclsError, StreamError
from edgecls.core.files import atomic_path, write_text_atomic

from .mqtt import segment

logger = logging.getLogger(__name__)

MARGIN = 0.2  # the two best classes closer than this: unsure
UNSURE_EVERY_S = 1.0  # at most one unsure crop a second per light
QUEUE = 64  # crops waiting for the disk


def _folder_name(label: str) -> str:
    """The class's own name as its folder (training reads the classes from the folder names), unless
    it could not be one folder."""
    return segment(label) if label in (".", "..") or "/" in label or "\\" in label else label


@dataclass(frozen=True)
class CollectConfig:
    folder: Path
    max_crops: int = 2000
    max_mb: float = 500.0
    every_s: float = 60.0  # one confident crop per light this often
    min_score: float = 0.5

    def __post_init__(self) -> None:
        if self.max_crops < 1 or self.max_mb <= 0 or self.every_s <= 0:
            raise StreamError("`collect_max` must be 1 or more crops (and the size and the interval above 0).")


def check_folder(folder: Path) -> tuple[int, int]:
    """The crops `folder` holds already, and their bytes; the folder is made if need be.

    Raises:
        StreamError: it cannot be made or written to (one line naming it).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / ".edgecls-collect-check", "")
        (folder / ".edgecls-collect-check").unlink()
    except (OSError, EdgeclsError) as error:
        raise StreamError(f"`collect` {folder}: cannot write there ({getattr(error, 'strerror', None) or error}).") from None
    crops = list(folder.glob("*/*.jpg"))
    return len(crops), sum(path.stat().st_size for path in crops)


@dataclass
class _Crop:
    image: np.ndarray
    label: str
    sidecar: dict
    stem: str


@dataclass
class _LightMemory:
    state: str | None = None
    unsure_at: float = float("-inf")
    sample_at: float = float("-inf")


@dataclass
class Collector:
    """Decides which crops to keep (`offer`, on the loop's thread) and writes them (its own thread)."""

    config: CollectConfig
    classes: tuple[str, ...]
    model: str
    notify: Callable[[str], None] = logger.info
    saved: int = 0
    dropped: int = 0  # the queue was full
    failed: str = ""  # the last write error
    _memory: dict[tuple[str, str], _LightMemory] = field(default_factory=dict)
    _queue: queue.Queue = field(default_factory=lambda: queue.Queue(QUEUE))
    held: tuple[int, int] | None = None  # the crops the folder holds and their bytes (None: counted here)
    _held: int = 0  # crops in the folder
    _bytes: int = 0
    _full_said: bool = False
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._held, self._bytes = self.held if self.held is not None else check_folder(self.config.folder)
        self._thread = threading.Thread(target=self._write_all, name="edgecls-collect", daemon=True)
        self._thread.start()

    def offer(
        self,
        camera: str,
        light: str,
        region: np.ndarray,
        probabilities: np.ndarray,
        state: str,
        reason: str,
        when: float,
        frame: int = -1,
    ) -> None:
        """A classified crop of `light`: queued for the disk if it teaches something (see the module)."""
        memory = self._memory.setdefault((camera, light), _LightMemory())
        order = np.argsort(probabilities)[::-1]
        best, second = float(probabilities[order[0]]), float(probabilities[order[1]])
        why = ""
        if memory.state is not None and state != memory.state:
            why = "change"
        elif (best < self.config.min_score or best - second < MARGIN) and when - memory.unsure_at >= UNSURE_EVERY_S:
            why, memory.unsure_at = "unsure", when
        elif when - memory.sample_at >= self.config.every_s:
            why = "sample"
        memory.state = state
        if not why:
            return
        memory.sample_at = when if why == "sample" else memory.sample_at
        if self._full():
            return
        now = datetime.now(timezone.utc)
        label = self.classes[int(order[0])]
        sidecar = {
            "time": now.isoformat(timespec="milliseconds"),
            "camera": camera,
            "light": light,
            "frame": frame,
            "state": state,
            "reason": reason,
            "why": why,
            "scores": {name: round(float(value), 4) for name, value in zip(self.classes, probabilities, strict=True)},
            "model": self.model,
        }
        stem = f"{now.strftime('%Y%m%dT%H%M%S%f')[:-3]}-{segment(camera)}-{segment(light)}"
        try:
            self._queue.put_nowait(_Crop(np.array(region), _folder_name(label), sidecar, stem))
        except queue.Full:
            self.dropped += 1

    def _full(self) -> bool:
        full = self._held >= self.config.max_crops or self._bytes >= self.config.max_mb * 1e6
        if full and not self._full_said:
            self._full_said = True
            self.notify(
                f"collect: {self.config.folder} holds {self._held} crops ({self._bytes / 1e6:.0f} MB), its cap: "
                "no more are saved (raise --collect-max, or move crops out)"
            )
        return full

    def _write_all(self) -> None:
        while True:
            crop = self._queue.get()
            if crop is None:
                return
            try:
                self._write(crop)
            except (OSError, EdgeclsError) as error:
                if not self.failed:
                    self.notify(f"collect: cannot write to {self.config.folder} ({error}); crops are dropped meanwhile")
                self.failed = str(error)
                self.dropped += 1

    def _write(self, crop: _Crop) -> None:
        folder = self.config.folder / crop.label
        ok, encoded = cv2.imencode(".jpg", crop.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise EdgeclsError("the crop could not be encoded")
        with atomic_path(folder / f"{crop.stem}.jpg") as temporary:
            temporary.write_bytes(encoded.tobytes())
        write_text_atomic(folder / f"{crop.stem}.json", json.dumps(crop.sidecar, indent=1) + "\n")
        self.saved += 1
        self._held += 1
        self._bytes += len(encoded)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (up to `timeout_s`), then stop."""
        deadline = time.monotonic() + timeout_s
        with contextlib.suppress(queue.Full):  # the writer is stuck (a hung disk): it is abandoned
            self._queue.put(None, timeout=timeout_s)
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))
