"""Video sources for live classification: cameras, device paths, video files and network streams.

A reader thread owns the OpenCV capture. Live sources (cameras, network streams, or a file with
`realtime=True`) keep only the newest frame and count what they overwrite, so latency never builds
up; a file is delivered frame by frame, in order, nothing dropped. Opening and reading have
timeouts; a live source that drops is reopened with exponential backoff.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from edgecls.core.errors import StreamError

from .captures import decoder_name, open_capture
from .sources import SourceSpec
from .timings import DECODE_BUCKETS, Timings


@dataclass
class Frame:
    image: np.ndarray  # BGR, as OpenCV reads it
    index: int  # position in the source (frames read so far, dropped ones included)
    captured_at: float  # time.perf_counter() when read
    scale: int = 1  # the image is 1/scale of the source's frame (decoded reduced: see FrameSource.decode_scale)
    _fingerprint: bytes | None = field(default=None, repr=False, compare=False)

    def fingerprint(self) -> bytes:
        """A hash of the picture (every 4th pixel), computed once however many lights read this frame:
        identical fingerprints over time mean a frozen camera."""
        if self._fingerprint is None:
            sample = np.ascontiguousarray(self.image[::4, ::4]).tobytes()
            self._fingerprint = hashlib.blake2b(sample, digest_size=16).digest()
        return self._fingerprint


@dataclass
class SourceStats:
    frames_read: int = 0
    dropped: int = 0
    reconnects: int = 0
    skipped: int = 0  # frames that could not be read, stepped over: a file's corrupt stretch, a stream's broken part
    not_decoded: int = 0  # frames read but passed over undecoded: more than `classify_fps` asks for
    decoded: int = 0  # frames decoded into a picture
    frozen: int = 0  # reads that blocked past the read timeout: the camera froze; that frame was not used
    connected_s: float = 0.0  # time connected (from each connection's first frame to its end), so far


@dataclass
class _Connection:
    """What the reader keeps of one connection (one opening of the capture)."""

    period: float  # --realtime on a file: seconds a frame
    started: float = field(default_factory=time.perf_counter)  # from its first frame
    count: int = 0  # frames handed out
    seen: int = 0  # frames read, handed out or passed over
    broken: int = 0  # of the capture's own count of broken parts (MJPEG), what is in the stats already
    replay_checked: bool = False  # its first picture was compared with a frozen source's last

    def saw(self, source: FrameSource) -> _Connection:
        """One more frame read on this connection (the first starts its connected time)."""
        if self.seen == 0:
            self.started = source._connection_started = time.perf_counter()
        self.seen += 1
        return self


_END = object()
FIRST_BACKOFF_S = 0.5  # the first wait before reopening a source; it doubles while the source stays away
FROZEN_SHARE = 0.9  # a live read that blocks this share of the read timeout returns only an old frame


class FrameSource:
    """Reads frames on a background thread; `get()` hands them to the caller.

    Args:
        spec: what to open.
        realtime: treat a file like a live source (keep the newest frame, drop the rest).
        open_timeout_s / read_timeout_s: give up opening, or declare a live source lost, after this long.
            A live source's read that blocks this long means the camera froze: what it finally returns
            is an old frame, never handed out as new, and the source is reopened.
        capture_factory: opens a capture (tests pass a fake one); called as factory(spec, open_s, read_s).
        max_backoff_s: longest wait between reconnect attempts; the wait starts short again after a
            connection that delivered frames.
        wait_for_source: a live source that cannot be opened at start is retried in the background like
            one that dropped (`start` returns with `connected` False); otherwise `start` raises.
        classify_fps: hand out this many frames a second, on a schedule (on the file's own clock for
            a file): the frames in between are read but not decoded (an MJPEG part's bytes are
            skipped unparsed; FFmpeg's grab skips the colour conversion). None: every frame.
    """

    def __init__(
        self,
        spec: SourceSpec,
        realtime: bool = False,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        capture_factory: Callable = open_capture,
        max_backoff_s: float = 8.0,
        wait_for_source: bool = False,
        classify_fps: float | None = None,
    ) -> None:
        if classify_fps is not None and not 0 < classify_fps <= 1000:
            raise StreamError(f"`classify_fps` must be above 0 (frames a second) and at most 1000; received {classify_fps:g}.")
        self.spec = spec
        self.period_s = 1.0 / classify_fps if classify_fps else 0.0
        self._due = float("-inf")  # when the next frame to hand out is due (the source's clock)
        self.live = spec.live or realtime
        self.pace = spec.kind == "file" and realtime
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.capture_factory = capture_factory
        self.max_backoff_s = max_backoff_s
        self.wait_for_source = wait_for_source and self.live
        self.stats = SourceStats()
        self._stop = threading.Event()
        self._lock = threading.Condition()
        self._newest: Frame | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._generation = 0
        self._connected = threading.Event()
        self._open_error: str | None = None
        self._ended = False
        self._thread: threading.Thread | None = None
        self._connection_started: float | None = None
        self._last_frame: Frame | None = None  # the newest frame handed out
        self._replay: bytes | None = None  # a frozen source's last picture: not handed out again
        self.connected = False
        self.failed: str | None = None  # why the source can never be read (seen by the live loop's watch)
        self.decoder = "software"  # how the frames are decoded (the hardware acceleration FFmpeg uses)
        self.fps = 0.0  # the source's own frame rate, as it reports it (0: unknown)
        self.wake: threading.Event | None = None  # set whenever a frame (or the end) arrives: one loop, many sources
        # Decode at 1/decode_scale where the capture can (MJPEG: 2, 4 or 8): set by the live loop to the
        # largest scale at which every light still has the model's input size; 1 when a full frame is watched.
        self.decode_scale = 1
        # How long each decoded frame took: an MJPEG part's JPEG decode; for FFmpeg, the reader thread's
        # CPU time in the read (FFmpeg's own decoder threads are not in it).
        self.decode_times = Timings(DECODE_BUCKETS)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> FrameSource:
        """Open the source (within open_timeout_s) and start reading.

        Raises:
            StreamError: the source could not be opened in time, or delivered no frame.
        """
        return self.begin().wait_started()

    def begin(self) -> FrameSource:
        """Start opening and reading in the background (`wait_started` then waits for it): many
        sources open at once, not one after the other."""
        if self._thread is None:
            self._spawn()
        return self

    def wait_started(self) -> FrameSource:
        """The rest of `start`: wait for the first frame (or, waiting for the source, let it retry).

        Raises:
            StreamError: as `start`.
        """
        if not self._connected.wait(self.open_timeout_s + self.read_timeout_s):
            if self.wait_for_source:
                return self  # the reader goes on trying, with backoff; `connected` says when it is there
            self.stop()
            raise StreamError(
                f"`source` {self.spec}: no frame within {self.open_timeout_s + self.read_timeout_s:.0f}s. "
                "Check that the camera is connected and not in use, or that the stream URL is reachable."
            )
        if self._open_error is not None:
            self.stop()
            raise StreamError(f"`source` {self.spec}: {self._open_error}")
        return self

    def stop(self, wait_s: float | None = None) -> None:
        """Stop reading; the reader thread releases the capture as soon as its current read returns.

        Waits up to `wait_s` (default: the read timeout) for that, so the device is free when this
        returns. A capture is never released from another thread while a read is in progress: OpenCV
        does not allow it (it crashes). A reader stuck in a read that never returns is abandoned.
        """
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.read_timeout_s if wait_s is None else wait_s)

    def _spawn(self) -> None:
        self._generation += 1
        self._thread = threading.Thread(target=self._run, args=(self._generation,), name="edgecls-reader", daemon=True)
        self._thread.start()

    # -- reader thread -------------------------------------------------------------------------------------
    def _run(self, generation: int) -> None:
        backoff = FIRST_BACKOFF_S
        first = not self._connected.is_set() and not self.wait_for_source
        while not self._stop.is_set() and generation == self._generation:
            capture = self.capture_factory(self.spec, self.open_timeout_s, self.read_timeout_s)
            if not capture.isOpened():
                capture.release()
                if getattr(capture, "open_error", None):  # waiting would not mend it: the run stops
                    self.failed = self._open_error = capture.open_error
                    self._connected.set()
                    self._wake()
                    return
                if first:
                    self._open_error = "could not be opened (nothing there, unsupported format, or no permission)"
                    self._connected.set()
                    return
                self.connected = False
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            frames_before = self.stats.frames_read
            try:
                ended = self._read_until_failure(capture, generation, first)
            finally:
                capture.release()  # only ever here, on the thread that reads it
            first = False
            if self.stats.frames_read > frames_before:
                backoff = FIRST_BACKOFF_S  # a good connection: the next outage starts with a short wait
            if ended and generation == self._generation:
                with self._lock:  # the real end of a file: with --realtime too, never a reconnect
                    self._ended = True
                    self._lock.notify_all()
                self._wake()
            if ended or not self.live or self._stop.is_set() or generation != self._generation:
                break
            # A live source dropped: reconnect, after a pause so a dead server is not hammered.
            self.connected = False
            self.stats.reconnects += 1
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
        if not self.live and generation == self._generation:
            self._put_file(_END)
            self._wake()

    def _read_until_failure(self, capture, generation: int, first: bool) -> bool:
        """Read frames until the capture fails; returns True at the end of a file."""
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        self.decoder = decoder_name(capture)
        self.fps = fps if 0 < fps < 1000 else 0.0
        period = 1.0 / fps if self.pace and 0 < fps < 1000 else 0.0
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self.spec.kind == "file" else 0
        connection = _Connection(period)
        try:
            while not self._stop.is_set() and generation == self._generation:
                began = time.perf_counter()
                passed_over = not self._due_now()  # read, not decoded: a frame nobody asked for
                ok, image, scale = self._read(capture, passed_over, connection)
                if self.live and connection.count and time.perf_counter() - began >= FROZEN_SHARE * self.read_timeout_s:
                    # A frozen camera: the read waited out its timeout, and what it returns (if
                    # anything) is an old frame. It is not handed out; the source is reopened.
                    self.stats.frozen += 1
                    if self._last_frame is not None:  # a camera may replay it on the next connection: not new
                        self._replay = self._last_frame.fingerprint()
                    return False
                if ok and passed_over:
                    self.stats.frames_read += 1
                    self.stats.not_decoded += 1
                    self._pace(connection.saw(self))
                    continue
                if not ok or image is None:
                    if self.spec.kind == "file" and self._step_over_corruption(capture, total):
                        continue
                    if first and connection.count == 0:
                        self._open_error = "opened, but no frame could be read from it"
                        self._connected.set()
                        return True
                    return self.spec.kind == "file"
                frame = Frame(image, self.stats.frames_read, time.perf_counter(), scale)
                if self._replayed(frame, connection):
                    continue
                connection.count += 1
                self._deliver(frame)
                self._pace(connection.saw(self))
            return False
        finally:
            if connection.seen:
                self.stats.connected_s += time.perf_counter() - connection.started
                self._connection_started = None

    def _read(self, capture, passed_over: bool, connection: _Connection) -> tuple[bool, np.ndarray | None, int]:
        """The next frame: skipped over (`passed_over`: grab, no picture) or decoded, at the decode scale
        where the capture can reduce; broken parts the capture stepped over are counted."""
        scale = 1
        if passed_over:
            ok, image = capture.grab(), None
        else:
            scale = self.decode_scale if hasattr(capture, "scale") else 1  # a capture that decodes reduced
            if scale != 1 or getattr(capture, "scale", 1) != 1:
                capture.scale = scale
            cpu = time.thread_time()
            ok, image = capture.read()
            if ok and image is not None:
                self.stats.decoded += 1
                self.decode_times.observe(getattr(capture, "decode_s", None) or time.thread_time() - cpu)
        if getattr(capture, "skipped", 0) > connection.broken:
            self.stats.skipped += capture.skipped - connection.broken
            connection.broken = capture.skipped
        return ok, image, scale

    def _replayed(self, frame: Frame, connection: _Connection) -> bool:
        """A connection's first picture that is the frozen camera's last one (an MJPEG server hands
        out its current frame): not new. More of the same is the loop's frozen frame."""
        if self._replay is None or connection.replay_checked:
            return False
        connection.replay_checked = True
        if frame.fingerprint() == self._replay:
            return True
        self._replay = None
        return False

    def _pace(self, connection: _Connection) -> None:
        """--realtime on a file: play it at its own frame rate (every frame read counts, decoded or not)."""
        if connection.period:
            delay = connection.started + connection.seen * connection.period - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)

    def _due_now(self) -> bool:
        """Whether the next frame is to be handed out (always, without `classify_fps`). On schedule: a
        frame taken late keeps the schedule, so a 30 fps camera at 5 a second gives 5, not 4.3."""
        if not self.period_s:
            return True
        now = self.stats.frames_read / self.fps if not self.live and self.fps else time.perf_counter()
        if now + 1e-9 < self._due:
            return False
        self._due = self._due + self.period_s if now - self._due < self.period_s else now + self.period_s
        return True

    def _deliver(self, frame: Frame) -> None:
        """A fresh frame: the newest (live) or the next in order (file)."""
        self.connected = True
        self._last_frame = frame
        self.stats.frames_read += 1
        if not self._connected.is_set():
            self._connected.set()
        if not self.live:
            self._put_file(frame)
            self._wake()
            return
        with self._lock:
            if self._newest is not None:
                self.stats.dropped += 1
            self._newest = frame
            self._lock.notify_all()
        self._wake()

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake.set()

    def _step_over_corruption(self, capture, total: int) -> bool:
        """A file's read failed before its last frame (a corrupt stretch): seek past the frame and go
        on, counting it. False at the real end, or when seeking does not move past it."""
        position = int(capture.get(cv2.CAP_PROP_POS_FRAMES) or 0)
        if total <= 0 or position >= total - 1:
            return False
        capture.set(cv2.CAP_PROP_POS_FRAMES, position + 1)
        if int(capture.get(cv2.CAP_PROP_POS_FRAMES) or 0) <= position:
            return False
        self.stats.skipped += 1
        return True

    def _put_file(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    # -- consumer ---------------------------------------------------------------------------------------
    def get(self, timeout_s: float = 1.0) -> Frame | None:
        """The next frame (file) or the newest one (live); None when nothing arrived within `timeout_s`.

        Raises:
            EOFError: the file ended, or the source was stopped.
        """
        if self._stop.is_set():
            raise EOFError
        if not self.live:
            try:
                item = self._queue.get(timeout=timeout_s)
            except queue.Empty:
                return None
            if item is _END:
                raise EOFError
            return item
        with self._lock:
            if self._newest is None and not self._ended:
                self._lock.wait(timeout_s)
            frame, self._newest = self._newest, None
        if frame is None and (self._stop.is_set() or self._ended):
            raise EOFError
        return frame

    def media_time(self, frame: Frame) -> float:
        """When `frame` was shown, in seconds on the source's own clock: a file's position (however
        fast it is read), a live source's capture time."""
        return frame.index / self.fps if not self.live and self.fps else frame.captured_at

    def connected_seconds(self) -> float:
        """Time connected so far: every finished connection and the one under way."""
        ongoing = self._connection_started
        return self.stats.connected_s + (time.perf_counter() - ongoing if ongoing is not None else 0.0)

    def restart(self) -> None:
        """Abandon a reader stuck in a read that never returns (a hung camera) and start a fresh one."""
        self.stats.reconnects += 1
        self.connected = False
        self._spawn()
