"""Opening a source as a capture the reader thread reads: a camera or device through OpenCV, an MJPEG
stream through edgecls' own reader (`mjpeg.py`), anything else through FFmpeg."""

from __future__ import annotations

import cv2

from .sources import SourceSpec


def open_capture(spec: SourceSpec, open_timeout_s: float, read_timeout_s: float):
    """cv2.VideoCapture for `spec`, with FFmpeg's open/read timeouts where the backend honours them;
    an http(s) MJPEG stream is read by `MjpegCapture` (it steps over a broken part instead of
    reconnecting), and any other answer over HTTP by FFmpeg."""
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
        capture = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, timeouts)
    if spec.kind in ("camera", "device"):
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's queue would add latency
    return capture
