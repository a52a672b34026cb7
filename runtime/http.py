"""A small HTTP server for live results: /state (JSON), /stream.mjpg (annotated frames), / (a live
page) and /healthz. Python's own ThreadingHTTPServer is enough for a handful of viewers and keeps
the runtime free of web frameworks."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edgecls.errors import StreamError

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>edgecls live</title>
<style>body{font-family:sans-serif;background:#111;color:#eee;margin:2em}
#state{font-size:3em;font-weight:bold}img{max-width:100%;border:1px solid #444}</style></head>
<body><div id="state">…</div><div id="detail"></div><img src="/stream.mjpg" alt="live stream">
<script>
const colors={red:"#f44",yellow:"#fd3",green:"#4e4"};
async function poll(){try{const r=await fetch("/state");const s=await r.json();
const el=document.getElementById("state");el.textContent=s.state;el.style.color=colors[s.state]||"#eee";
document.getElementById("detail").textContent=`score ${s.score.toFixed(2)} · ${s.fps.toFixed(1)} fps · ${s.provider} · updated ${s.age_s.toFixed(1)} s ago`;
}catch(e){}setTimeout(poll,250)}poll();
</script></body></html>
"""


class LiveState:
    """What the processing loop publishes and the HTTP handlers read (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._state: dict = {"state": "unknown", "score": 0.0, "fps": 0.0, "provider": "", "frame": -1}
        self._updated = time.monotonic()
        self._jpeg: bytes | None = None
        self._sequence = 0
        self.closed = False

    def publish(self, state: dict, jpeg: bytes | None) -> None:
        with self._lock:
            self._state = state
            self._updated = time.monotonic()
            if jpeg is not None:
                self._jpeg = jpeg
                self._sequence += 1
            self._lock.notify_all()

    def snapshot(self) -> dict:
        with self._lock:
            return {**self._state, "age_s": round(time.monotonic() - self._updated, 3)}

    def next_jpeg(self, after: int, timeout_s: float = 5.0) -> tuple[int, bytes | None]:
        with self._lock:
            if self._sequence == after and not self.closed:
                self._lock.wait(timeout_s)
            return self._sequence, self._jpeg

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._lock.notify_all()


def _handler(live: LiveState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - keep the terminal for the summary
            pass

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - the http.server API
            path = self.path.split("?")[0]
            if path == "/state":
                self._send(200, json.dumps(live.snapshot()).encode(), "application/json")
            elif path == "/healthz":
                self._send(200, b'{"ok": true}', "application/json")
            elif path == "/":
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self._send(404, b'{"error": "not found"}', "application/json")

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            sequence = -1
            try:
                while not live.closed:
                    sequence, jpeg = live.next_jpeg(sequence)
                    if jpeg is None:
                        continue
                    self.wfile.write(
                        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                        + str(len(jpeg)).encode()
                        + b"\r\n\r\n"
                        + jpeg
                        + b"\r\n"
                    )
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer went away

    return Handler


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT' or 'PORT' (loopback) -> (host, port)."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise StreamError(f"--http must be HOST:PORT or PORT, e.g. 127.0.0.1:8080; received {text!r}.") from None
    if not 0 <= number <= 65535:
        raise StreamError(f"--http port must be 0-65535; received {number}.")
    return (host.strip("[]") or "127.0.0.1"), number


def start_server(address: str, live: LiveState) -> ThreadingHTTPServer:
    """Serve `live` on a daemon thread; returns the server (its real port is server.server_address[1])."""
    host, port = parse_address(address)
    try:
        server = ThreadingHTTPServer((host, port), _handler(live))
    except OSError as error:
        raise StreamError(f"--http {address}: cannot listen there ({error.strerror}). Pick another port.") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="edgecls-http", daemon=True).start()
    return server
