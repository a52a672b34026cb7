"""A small HTTP server for live results: /state (JSON), /stream.mjpg (annotated frames), / (a live
page), /healthz (alive) and /readyz (a fresh state, else 503 and why). Python's own
ThreadingHTTPServer is enough for a handful of viewers and keeps the runtime free of web frameworks."""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import hmac
import io
import json
import re
import selectors
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from edgecls.core.errors import StreamError
from edgecls.core.text import printable

from .state import LiveState

__all__ = ["LiveServer", "LiveState", "check_token", "is_loopback", "start_server"]

PAGE = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")  # the live page, its script inline


def _content_security_policy(page: str) -> str:
    """The page may run its own script and nothing else: the script is allowed by its hash, so text
    that reaches the page from a model, a config or a source can never run as script, even if it
    were ever inserted as markup."""
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


CONTENT_SECURITY_POLICY = _content_security_policy(PAGE)


class _Handler(BaseHTTPRequestHandler):
    """One request: /state, /healthz, /readyz, the page, or the MJPEG stream of `live` (set per server)."""

    live: LiveState
    allowed_hosts: frozenset[str] | None = None  # names a request's Host may carry; None: any
    token: str | None = None  # every path but /healthz and /readyz needs it; None: open
    protocol_version = "HTTP/1.0"  # one request per connection: a slot is never held between requests

    def setup(self) -> None:
        # The request head was read by the server's watcher; it arrives as (socket, bytes).
        connection, self._head = self.request
        self.request = connection
        super().setup()
        self.rfile = io.BytesIO(self._head)

    def log_message(self, format, *args):  # noqa: A002 - keep the terminal for the summary
        pass

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _host_refused(self) -> bool:
        """Answer 403 to a request whose Host names another server: a web page whose name was made to
        point at this machine (DNS rebinding) must not read the state or the cameras."""
        host = self.headers.get("Host")
        if self.allowed_hosts is None or host is None:
            return False
        try:
            name = urllib.parse.urlsplit("//" + host.strip()).hostname  # [::1]:8080 -> ::1, lower case
        except ValueError:
            name = None
        if name in self.allowed_hosts:
            return False
        message = f"Host {printable(host)[:100]!r} is not this server's name; start it with `--http-allow-host NAME` to allow it"
        self._send(403, json.dumps({"error": message}).encode(), "application/json")
        return True

    def _unauthorized(self) -> bool:
        """Answer 401 to a request without the server's token (`--http-token`): as a bearer header,
        the cookie the page's `/?token=` link sets, or `?token=` (players that cannot set a header).
        /healthz and /readyz stay open for supervisors and load balancers."""
        path, _, query = self.path.partition("?")
        if self.token is None or path in OPEN_PATHS:
            return False
        offered = [urllib.parse.parse_qs(query).get("token", [""])[0]]
        scheme, _, credential = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            offered.append(credential.strip())
        offered += [
            value for name, _, value in (part.strip().partition("=") for part in self.headers.get("Cookie", "").split(";"))
            if name == TOKEN_COOKIE
        ]
        if any(hmac.compare_digest(candidate.encode(), self.token.encode()) for candidate in offered if candidate):
            if path == "/" and query:  # the browser's first visit: keep the token in a cookie, not in the address bar
                self.send_response(303)
                self.send_header("Location", "/")
                self.send_header("Set-Cookie", f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True
            return False
        message = (
            "this server needs its token (`--http-token`): send `Authorization: Bearer TOKEN`, "
            "or open /?token=TOKEN once in a browser"
        )
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="edgecls"')
        body = json.dumps({"error": message}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return True

    def do_GET(self):  # noqa: N802 - the http.server API
        if self._host_refused() or self._unauthorized():
            return
        path = self.path.split("?")[0]
        if path == "/state":
            self._send(200, json.dumps(self.live.snapshot()).encode(), "application/json")
        elif path == "/healthz":
            self._send(200, b'{"ok": true}', "application/json")
        elif path == "/metrics" and self.live.metrics is not None:
            from .metrics import CONTENT_TYPE

            self._send(200, self.live.metrics.render(), CONTENT_TYPE)
        elif path == "/readyz":
            ready, why = self.live.readiness()
            self._send(200 if ready else 503, json.dumps({"ready": ready, "why": why}).encode(), "application/json")
        elif path == "/":
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/stream.mjpg":
            camera = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("camera", [None])[0]
            if camera is not None and camera not in self.live.cameras():
                self._send(404, json.dumps({"error": f"no camera named {camera!r}"}).encode(), "application/json")
            else:  # the camera named, else the first
                self._stream(self.live.camera_jpegs(camera or self.live.default_camera()))
        else:
            self._send(404, b'{"error": "not found"}', "application/json")

    def do_HEAD(self):  # noqa: N802 - the headers a GET would send, no body
        if self.path.split("?")[0] == "/stream.mjpg" and not self._host_refused() and not self._unauthorized():
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
        else:
            self.do_GET()

    def _stream(self, jpegs: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            for jpeg in jpegs:
                self.wfile.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(jpeg)).encode()
                    + b"\r\n\r\n"
                    + jpeg
                    + b"\r\n"
                )
        except OSError:
            pass  # the viewer went away, or stopped reading for longer than the timeout
        finally:
            if hasattr(jpegs, "close"):
                jpegs.close()  # a camera's stream stops counting this viewer


def _handler(live: LiveState, allowed_hosts: frozenset[str] | None = None, token: str | None = None) -> type[_Handler]:
    """The handler class of one server, bound to its `live` state, the Host names it answers and its token."""
    return type("Handler", (_Handler,), {"live": live, "allowed_hosts": allowed_hosts, "token": token})


OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # answered without the token: supervisors probe them
TOKEN_COOKIE = "edgecls_token"
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,512}")


def check_token(token: str) -> str:
    """A token fit to guard the server: 16 or more characters a header, a cookie and a URL carry as
    they are.

    Raises:
        StreamError: shorter, or with other characters; the message shows how to make one.
    """
    if not _TOKEN.fullmatch(token):
        raise StreamError(
            f"`http_token` must be 16 to 512 letters, digits or ._~+/=- ({len(token)} characters given). "
            "Make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    return token


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether a bind address is this machine only (127.0.0.0/8, ::1, localhost)."""
    return host.lower() in LOOPBACK_NAMES or host.startswith("127.")


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT' or 'PORT' (loopback) -> (host, port)."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise StreamError(f"`http` must be HOST:PORT or PORT, e.g. 127.0.0.1:8080; received {text!r}.") from None
    if not 0 <= number <= 65535:
        raise StreamError(f"`http` port must be 0-65535; received {number}.")
    return (host.strip("[]") or "127.0.0.1"), number


class LiveServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that a slow or hostile client cannot exhaust.

    A new connection waits in one watcher thread (a selector, no thread of its own) until its request
    head has arrived; only then does it get a handler thread, and at most `max_clients` run at once:
    three quarters of them video viewers, the rest kept for the short answers (503 beyond either, at
    once). A head that does not arrive within `timeout_s` closes the connection, as
    does a client that stops reading for that long. Disconnects are quiet.
    """

    daemon_threads = True
    request_queue_size = 256  # the listen backlog: socketserver's 5 makes a burst of clients retry for seconds
    max_waiting = 1024  # connections still sending their request head; beyond this, 503 at once
    max_head_bytes = 16384

    def __init__(self, address, handler, max_clients: int = 32, timeout_s: float = 10.0) -> None:
        # Everything server_close needs exists before the socket is bound: a failed bind closes the
        # server on its way out.
        self.timeout_s = timeout_s
        # Video viewers hold their connection for as long as they watch; a quarter of the slots (at
        # least 2) is kept for the short answers (/healthz, /readyz, /state, /metrics, the page), so
        # that health checks and scrapes answer at once even with every viewer slot taken.
        reserved = max(2, max_clients // 4)
        self._slots = threading.BoundedSemaphore(reserved)
        self._stream_slots = threading.BoundedSemaphore(max(1, max_clients - reserved))
        self._selector = selectors.DefaultSelector()
        self._waiting: dict[socket.socket, tuple[object, float, bytearray]] = {}
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = socket.socketpair()
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._closing = False
        self._watcher = threading.Thread(target=self._watch, name="edgecls-http-watch", daemon=True)
        super().__init__(address, handler)
        self._watcher.start()
        self.host, self.port = str(self.server_address[0]), int(self.server_address[1])  # the real port, also for port 0
        self.url = f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}/"

    def process_request(self, request, client_address) -> None:  # on the accept thread
        with self._lock:
            if len(self._waiting) >= self.max_waiting:
                self._refuse(request)
                return
            request.setblocking(False)
            self._waiting[request] = (client_address, time.monotonic() + self.timeout_s, bytearray())
            self._selector.register(request, selectors.EVENT_READ)
        self._wake_write.send(b"\0")

    def _watch(self) -> None:
        while not self._closing:
            for key, _ in self._selector.select(timeout=0.5):
                if key.fileobj is self._wake_read:
                    self._wake_read.recv(4096)
                    continue
                self._receive(key.fileobj)
            now = time.monotonic()
            with self._lock:
                expired = [connection for connection, (_, deadline, _) in self._waiting.items() if deadline < now]
            for connection in expired:
                self._drop(connection)

    def _receive(self, connection) -> None:
        try:
            chunk = connection.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        with self._lock:
            entry = self._waiting.get(connection)
        if entry is None:
            return
        address, _, head = entry
        head += chunk
        if not chunk or len(head) > self.max_head_bytes:
            self._drop(connection)
        elif b"\r\n\r\n" in head or b"\n\n" in head:
            self._forget(connection)
            streaming = b"/stream.mjpg" in head.split(b"\n", 1)[0]
            slots = self._stream_slots if streaming else self._slots
            if not slots.acquire(blocking=False):
                self._refuse(connection, "too many viewers" if streaming else "too many clients")
                return
            connection.setblocking(True)
            connection.settimeout(self.timeout_s)
            threading.Thread(target=self._serve, args=(connection, address, bytes(head), slots), daemon=True).start()

    def _serve(self, connection, address, head: bytes, slots: threading.BoundedSemaphore) -> None:
        try:
            # The handler class takes (socket, bytes already read) as its request: see Handler.setup.
            self.finish_request((connection, head), address)  # type: ignore[arg-type]
        except OSError:
            pass  # the client went away or timed out
        except Exception:  # noqa: BLE001 - one bad request must not end the server or print a traceback
            pass
        finally:
            self.shutdown_request(connection)
            slots.release()

    def _forget(self, connection) -> None:
        with self._lock:
            self._waiting.pop(connection, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(connection)

    def _drop(self, connection) -> None:
        self._forget(connection)
        with contextlib.suppress(OSError):
            connection.close()

    @staticmethod
    def _refuse(connection, why: str = "too many clients") -> None:
        body = json.dumps({"error": why}).encode()
        with contextlib.suppress(OSError):
            connection.setblocking(True)
            connection.settimeout(1.0)
            connection.sendall(
                b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        with contextlib.suppress(OSError):
            connection.close()

    def handle_error(self, request, client_address) -> None:
        pass  # disconnects and timeouts are not the user's business

    def server_close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")
        if self._watcher.is_alive():
            self._watcher.join(2)
        with self._lock:
            waiting = list(self._waiting)
        for connection in waiting:
            self._drop(connection)
        super().server_close()


def start_server(
    address: str,
    live: LiveState,
    max_clients: int = 32,
    timeout_s: float = 10.0,
    allow_hosts: tuple[str, ...] = (),
    token: str | None = None,
) -> LiveServer:
    """Serve `live` on a daemon thread; returns the server (its real port is server.server_address[1]).
    Bound to loopback, it answers only requests whose Host is a loopback name, the bound address or
    one of `allow_hosts` (DNS rebinding); bound to a network address, any Host. With `token`, every
    path but /healthz and /readyz needs it (see _Handler._unauthorized)."""
    host, port = parse_address(address)
    allowed = None
    if is_loopback(host):
        allowed = LOOPBACK_NAMES | {host.lower()} | {name.strip().lower() for name in allow_hosts}
    try:
        handler = _handler(live, allowed, None if token is None else check_token(token))
        server = LiveServer((host, port), handler, max_clients=max_clients, timeout_s=timeout_s)
    except OSError as error:
        why = "the address is in use by another program" if error.errno == errno.EADDRINUSE else error.strerror
        raise StreamError(
            f"`http` {address}: cannot listen there ({why}). Pick another port, e.g. `http` {host}:0 for any free one."
        ) from None
    threading.Thread(target=server.serve_forever, name="edgecls-http", daemon=True).start()
    return server
