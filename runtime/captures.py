"""Opening a source as a capture the reader thread reads: a camera or device through OpenCV, an MJPEG
stream through edgecls' own reader (`mjpeg.py`), anything else through FFmpeg, with the decoder
threads and hardware acceleration of `Decoding`."""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2

from edgecls.core.errors import StreamError

from .sources import SourceSpec

# What OpenCV's FFmpeg backend can decode with, by the name --hwaccel takes.
HWACCELS = {
    "auto": cv2.VIDEO_ACCELERATION_ANY,  # hardware where FFmpeg finds a device, else software
    "none": cv2.VIDEO_ACCELERATION_NONE,
    "vaapi": cv2.VIDEO_ACCELERATION_VAAPI,  # Intel and AMD GPUs on Linux
    "drm": cv2.VIDEO_ACCELERATION_DRM,
    "mfx": cv2.VIDEO_ACCELERATION_MFX,  # Intel Quick Sync
    "d3d11": cv2.VIDEO_ACCELERATION_D3D11,  # Windows
}
ALIASES = {"qsv": "mfx"}
NOT_OFFERED = ("cuda", "nvdec", "cuvid", "videotoolbox", "vdpau")  # FFmpeg has them; OpenCV's backend does not


@dataclass(frozen=True)
class Decoding:
    """How FFmpeg decodes a stream (RTSP, a file, HTTP other than MJPEG).

    hwaccel: a name of HWACCELS (see `check_hwaccel`).
    threads: decoder threads (FFmpeg's frame threading); 0 lets `threads_for` choose.
    """

    hwaccel: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hwaccel", check_hwaccel(self.hwaccel))
        if self.threads < 0:
            raise StreamError(f"--decode-threads must be 0 (one per core, shared among the streams) or more; received {self.threads}.")


def check_hwaccel(name: str) -> str:
    """`name` as HWACCELS knows it.

    Raises:
        StreamError: a name FFmpeg in OpenCV does not offer, saying which it does.
    """
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key in HWACCELS:
        return key
    offered = ", ".join(HWACCELS)
    if key in NOT_OFFERED:
        raise StreamError(
            f"--hwaccel {name}: the FFmpeg inside OpenCV, which decodes streams for edgecls, has no {name} decoder; "
            f"it offers {offered}. On an NVIDIA box, decode with `none` (software) or `vaapi` through a VAAPI driver."
        )
    raise StreamError(f"--hwaccel must be one of {offered}; received {name!r}.")


def threads_for(decoding: Decoding, streams: int) -> int:
    """Decoder threads per stream: as asked, else the cores shared among the `streams` FFmpeg decodes
    (one camera on a 4-core box decodes with 4 threads; 30 cameras with one each, which costs the
    least CPU per frame: frame threading adds a hand-over per frame)."""
    if decoding.threads:
        return decoding.threads
    return max(1, (os.cpu_count() or 1) // max(1, streams))


def open_capture(spec: SourceSpec, open_timeout_s: float, read_timeout_s: float, decoding: Decoding | None = None, threads: int = 0):
    """cv2.VideoCapture for `spec`, with FFmpeg's open/read timeouts where the backend honours them;
    an http(s) MJPEG stream is read by `MjpegCapture` (it steps over a broken part instead of
    reconnecting), and any other answer over HTTP by FFmpeg, with `decoding`'s hardware acceleration
    and `threads` decoder threads (0: FFmpeg's default).

    A stream that opens in software but not with the hardware acceleration asked for comes back
    closed with `open_error` saying so: waiting would not mend it."""
    if spec.kind == "network" and str(spec.target).lower().startswith(("http://", "https://")):
        from .mjpeg import MjpegCapture

        mjpeg = MjpegCapture(str(spec.target), open_timeout_s, read_timeout_s)
        if mjpeg.is_mjpeg or not mjpeg.answered:
            return mjpeg  # an MJPEG stream, or no server there (not open: retried with backoff)
        mjpeg.release()
    timeouts = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(read_timeout_s * 1000),
    ]
    if spec.kind == "camera":
        capture = cv2.VideoCapture(spec.target, cv2.CAP_ANY, timeouts)
    elif spec.kind == "device":
        capture = cv2.VideoCapture(spec.target, cv2.CAP_V4L2, timeouts)
    else:
        decoding = decoding or Decoding()
        options = [cv2.CAP_PROP_HW_ACCELERATION, HWACCELS[decoding.hwaccel]]
        if threads:
            options += [cv2.CAP_PROP_N_THREADS, threads]
        capture = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, timeouts + options)
        if not capture.isOpened() and decoding.hwaccel not in ("auto", "none"):
            software = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, timeouts)
            opens = software.isOpened()
            software.release()
            if opens:
                return Refused(
                    f"--hwaccel {decoding.hwaccel} could not decode it (no such device or driver on this machine, "
                    "or not for this codec); it opens in software: use --hwaccel auto or none"
                )
    if spec.kind in ("camera", "device"):
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's queue would add latency
    return capture


class Refused:
    """A capture that will not open however long one waits, and why."""

    def __init__(self, open_error: str) -> None:
        self.open_error = open_error

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return False

    def release(self) -> None:
        pass


def decoder_name(capture) -> str:
    """How an open capture decodes: the hardware acceleration FFmpeg uses, or "software"."""
    if not isinstance(capture, cv2.VideoCapture):
        return "software"
    used = int(capture.get(cv2.CAP_PROP_HW_ACCELERATION) or 0)
    return next((name for name, value in HWACCELS.items() if value == used and name not in ("auto", "none")), "software")
