"""MJPEG over HTTP (multipart/x-mixed-replace), read part by part with the standard library.

What most IP cameras and every "webcam server" send. FFmpeg reads it too, but a single broken part
(one whose Content-Length promises more bytes than the camera sends before the next boundary) makes
its read fail, and the stream has to be reopened: with one bad part in twenty a camera spends a
quarter of its time reconnecting. Here a broken part is stepped over at the next boundary and
counted, and the connection is reopened only when the stream itself is gone.

`MjpegCapture` answers like the `cv2.VideoCapture` the reader thread uses (isOpened, read, get,
set, release). A URL that does not answer with a multipart stream (an HLS playlist, a video file
over HTTP, a camera that wants Digest authentication) is not ours: `is_mjpeg` is False and the
caller opens it with FFmpeg instead.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ssl
import time
import urllib.parse

import cv2
import numpy as np

MAX_PART_BYTES = 32 * 1024 * 1024  # a part larger than this is not a camera's JPEG: the stream is broken
MAX_HEADER_LINES = 64
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"


READ_BUFFER_BYTES = 256 * 1024  # whole parts per receive: each refill of the buffer takes the interpreter lock again


class _Response(http.client.HTTPResponse):
    """http.client's answer reading through a buffer large enough for whole JPEG parts (its default,
    8 KiB, takes four or five receives a part)."""

    def __init__(self, sock, *args, **kwargs) -> None:
        super().__init__(sock, *args, **kwargs)
        default, self.fp = self.fp, sock.makefile("rb", buffering=READ_BUFFER_BYTES)
        default.close()  # nothing was read through it yet


class _Gone(Exception):
    """The stream ended or stopped answering: the connection is over."""


class MjpegCapture:
    """One connection to an MJPEG stream.

    Args:
        url: http(s)://[user:password@]host[:port]/path; credentials go as HTTP basic authentication.
        open_timeout_s: connecting and the answer's headers.
        read_timeout_s: the longest silence inside the stream before a read gives up.
    """

    def __init__(self, url: str, open_timeout_s: float, read_timeout_s: float) -> None:
        self.skipped = 0  # broken parts stepped over on this connection
        self.decode_s = 0.0  # how long the last picture's JPEG decode took
        self.scale = 1  # decode at 1/scale (2, 4 or 8: libjpeg's DCT scaling, much cheaper than a full decode)
        self.answered = False  # the server answered over HTTP (with anything)
        self.is_mjpeg = False  # ... with a multipart stream
        self._boundary = b""
        self._bare = b""
        self._pending = b""  # bytes read past a broken part: the start of what follows it
        self._response: http.client.HTTPResponse | None = None
        self._connection: http.client.HTTPConnection | None = None
        try:
            self._open(url, open_timeout_s, read_timeout_s)
        except (OSError, http.client.HTTPException, ValueError):
            self.release()

    def _open(self, url: str, open_timeout_s: float, read_timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() == "https":
            self._connection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=open_timeout_s, context=ssl.create_default_context()
            )
        else:
            self._connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=open_timeout_s)
        self._connection.response_class = _Response
        headers = {"Accept": "multipart/x-mixed-replace, image/jpeg;q=0.5"}
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        path = parts.path or "/"
        self._connection.request("GET", path + (f"?{parts.query}" if parts.query else ""), headers=headers)
        sock = self._connection.sock  # the answer reads from it, even after an HTTP/1.0 answer closes the connection
        response = self._connection.getresponse()
        self._response = response
        self.answered = True
        kind = response.getheader("Content-Type", "")
        boundary = _boundary(kind)
        if response.status != 200 or boundary is None:
            return  # not an MJPEG stream (or not allowed): FFmpeg's turn
        self._boundary = b"--" + boundary.encode("latin-1")
        self._bare = boundary.encode("latin-1")  # some cameras send the boundary without its two dashes
        self.is_mjpeg = True
        if sock is not None:
            sock.settimeout(read_timeout_s)

    # -- what cv2.VideoCapture answers --------------------------------------------------------------------
    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return self.is_mjpeg and self._response is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next whole picture; broken parts on the way are stepped over and counted. (False, None)
        when the stream is gone (ended, closed, or silent for the read timeout)."""
        while self.isOpened():
            try:
                jpeg = self._next_part()
            except (_Gone, OSError, http.client.HTTPException, ValueError):
                self.release()
                return False, None
            began = time.perf_counter()
            image = _decode(jpeg, self.scale)
            self.decode_s = time.perf_counter() - began
            if image is not None:
                return True, image
            self.skipped += 1
        return False, None

    def grab(self) -> bool:
        """Step over the next part, its bytes read but not parsed as a picture; False when the stream is gone."""
        if not self.isOpened():
            return False
        try:
            self._next_part()
        except (_Gone, OSError, http.client.HTTPException, ValueError):
            self.release()
            return False
        return True

    def get(self, prop: int) -> float:
        return 0.0  # frame rate and count: a camera's stream does not say

    def set(self, prop: int, value: float) -> bool:
        return False

    def release(self) -> None:
        for closing in (self._response, self._connection):
            if closing is not None:
                with contextlib.suppress(OSError):
                    closing.close()
        self._response = None

    # -- parts -------------------------------------------------------------------------------------
    def _next_part(self) -> bytes:
        """The body of the next part that is whole as far as its framing says; a part cut short by
        the next boundary is counted and skipped, and reading goes on from that boundary."""
        while True:
            self._skip_to_boundary()
            length = self._headers()
            if length is None:  # no Content-Length: the part ends where the next boundary starts
                return self._until_boundary()
            if length > MAX_PART_BYTES:
                raise _Gone
            body = self._read_exactly(length)
            cut = body.find(self._boundary)
            if cut < 0:
                return body
            # The part promised more than it had: the next part began inside it. Keep that for later.
            self._pending = body[cut:] + self._pending
            self.skipped += 1

    def _skip_to_boundary(self) -> None:
        for _ in range(MAX_PART_BYTES // 64):
            line = self._line()
            if self._bare and line.strip() in (self._bare, self._bare + b"--"):
                self._boundary = self._bare  # this camera's boundary lines lack the dashes: match them as sent
            if line.strip().startswith(self._boundary):
                if line.strip() == self._boundary + b"--":
                    raise _Gone  # the closing boundary: the stream is over
                return
        raise _Gone

    def _headers(self) -> int | None:
        length = None
        for _ in range(MAX_HEADER_LINES):
            line = self._line().strip()
            if not line:
                return length
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = None
        raise _Gone

    def _until_boundary(self) -> bytes:
        """A part without Content-Length: up to the JPEG's end marker at a line's end (so the picture
        is not held back until the next part arrives), or up to the next boundary."""
        body = bytearray()
        while len(body) <= MAX_PART_BYTES:
            line = self._line()
            if line.strip().startswith(self._boundary):
                self._pending = line + self._pending  # the boundary is the next part's start
                return bytes(body)
            body += line
            if body.endswith(_JPEG_END + b"\r\n") and body.startswith(_JPEG_START):
                return bytes(body)
        raise _Gone

    # -- bytes ------------------------------------------------------------------------------------------
    def _line(self) -> bytes:
        if self._pending:
            end = self._pending.find(b"\n")
            if end >= 0:
                line, self._pending = self._pending[: end + 1], self._pending[end + 1 :]
                return line
            rest, self._pending = self._pending, b""
            return rest + self._raw_line()
        return self._raw_line()

    def _raw_line(self) -> bytes:
        assert self._response is not None
        line = self._response.readline(MAX_PART_BYTES)
        if not line:
            raise _Gone
        return line

    def _read_exactly(self, count: int) -> bytes:
        taken, self._pending = self._pending[:count], self._pending[count:]
        chunks = [taken]
        missing = count - len(taken)
        assert self._response is not None
        while missing > 0:
            chunk = self._response.read(missing)
            if not chunk:
                raise _Gone
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)


def _boundary(content_type: str) -> str | None:
    """The boundary of a multipart/x-mixed-replace answer (with or without quotes, with or without
    the leading -- some cameras put in it); None for any other answer."""
    kind, _, parameters = content_type.partition(";")
    if kind.strip().lower() != "multipart/x-mixed-replace":
        return None
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').removeprefix("--")
    return None


REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def _decode(jpeg: bytes, scale: int = 1) -> np.ndarray | None:
    """The picture at 1/`scale` of its size, or None for a part that is not one whole JPEG (cut off,
    or garbage)."""
    body = jpeg.strip(b"\r\n")
    if not body.startswith(_JPEG_START) or not body.endswith(_JPEG_END):
        return None
    return cv2.imdecode(np.frombuffer(body, np.uint8), REDUCED.get(scale, cv2.IMREAD_COLOR))
