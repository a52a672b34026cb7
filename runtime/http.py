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
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from edgecls.core.errors import StreamError
from edgecls.core.text import printable

if TYPE_CHECKING:
    from edgecls.runtime.metrics import LiveMetrics

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgecls live</title>
<style>body{font-family:sans-serif;background:#111;color:#eee;margin:1em;max-width:60em}
#state{font-size:3em;font-weight:bold;margin:.2em 0}#status{font-weight:bold;padding:.2em .5em;display:inline-block}
.live{background:#264}.stale{background:#a60}.down{background:#a22}#detail,#changes{color:#bbb;font-size:.9em}
img{width:100%;border:1px solid #444;transition:opacity .3s}ul{padding-left:1.2em}
table{border-collapse:collapse;width:100%}td{padding:.35em .4em;border-bottom:1px solid #333}
td.word{font-size:1.6em;font-weight:bold}td.badge{font-size:.8em;font-weight:bold}a{color:#8cf}</style></head>
<body><div id="status">connecting…</div><div id="state">…</div><div id="detail"></div>
<table id="lights"></table><img id="video" src="/stream.mjpg" alt="live stream"><div id="changes"></div>
<script>
const colors={red:"#f44",yellow:"#fd3",green:"#4e4",off:"#999"};
const $=id=>document.getElementById(id);
function show(kind,text,state,color){$("status").className=kind;$("status").textContent=text;
$("state").textContent=state;$("state").style.color=color;$("video").style.opacity=kind==="live"?1:.3}
function since(seconds){return seconds<90?`${seconds.toFixed(0)} s`:`${(seconds/60).toFixed(0)} min`}
let lostAt=null,viewing=null;
const esc=t=>String(t).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[c]);
function lights(s){const now=[],rows=s.lights.map(l=>{const stale=l.age_s>s.stale_after_s;
const kind=!l.connected?"down":stale?"stale":l.state==="unknown"?"unsure":"live";
if(kind!=="live")now.push(l.light);const word=l.state.replace("_"," ");
const detail={live:`for ${since(l.in_state_s)} · ${l.state_score.toFixed(2)}`,unsure:esc(l.reason||"no state yet"),
stale:`no frame for ${l.age_s.toFixed(1)} s`,down:esc(l.reason)}[kind];
return `<tr><td>${esc(l.light)}<br><small><a href="#" data-camera="${esc(l.camera)}">${esc(l.camera)}</a></small></td>`+
`<td class="badge ${kind==="unsure"?"stale":kind}">`+
`${{live:"LIVE",unsure:"UNKNOWN",stale:"STALE",down:"DISCONNECTED"}[kind]}</td>`+
`<td class="word" style="color:${kind==="live"?colors[l.state.replace("flashing_","")]||"#eee":"#777"}">${esc(word)}</td><td>${detail}</td></tr>`});
$("lights").innerHTML=rows.join("");$("state").textContent="";
if(viewing===null||!s.lights.some(l=>l.camera===viewing))viewing=s.lights[0].camera;
const src="/stream.mjpg?camera="+encodeURIComponent(viewing);if($("video").getAttribute("src")!==src)$("video").src=src;
$("video").style.opacity=s.lights.some(l=>l.camera===viewing&&(!l.connected||l.age_s>s.stale_after_s))?.3:1;
$("status").className=now.length?"down":"live";
$("status").textContent=now.length?`NOT CURRENT: ${now.join(", ")}`:`LIVE · ${s.lights.length} lights`;
$("detail").textContent=`${s.provider} · model ${s.model} · video: ${viewing} (tap a camera's name to watch it)`}
$("lights").onclick=e=>{const a=e.target.closest("[data-camera]");if(a){e.preventDefault();viewing=a.dataset.camera}};
async function poll(){try{const r=await fetch("/state",{cache:"no-store"});const s=await r.json();lostAt=null;
if(s.lights&&s.lights.length>1){lights(s)}else{
const stale=s.age_s>s.stale_after_s,name=s.state.replace("_"," ");
if(!s.connected)show("down",`DISCONNECTED: ${s.reason}; last state shown is not current`,name,"#777");
else if(stale)show("stale",`STALE: no fresh frame for ${s.age_s.toFixed(1)} s`,name,"#777");
else show("live",`LIVE · ${name} for ${since(s.in_state_s)}`,name,colors[s.state.replace("flashing_","")]||"#eee");
$("detail").textContent=(!s.connected||stale?"":`state score ${s.state_score.toFixed(2)} · ${s.fps.toFixed(1)} fps · `)+`${s.provider} · `+
`source ${s.source} · model ${s.model}`+(s.reason&&s.connected?` · ${s.reason}`:"")}
$("changes").innerHTML="<b>last changes</b><ul>"+s.changes.map(c=>`<li>${esc(c.time.slice(11,19))} UTC: `+
`${c.light?esc(c.light)+": ":""}${esc(c.from)} → ${esc(c.to)}${c.reason?" ("+esc(c.reason)+")":""}</li>`).join("")+"</ul>";
}catch(e){show("down","SERVER UNREACHABLE: the last state shown is not current",$("state").textContent,"#777");
document.querySelectorAll("#lights td").forEach(td=>td.style.color="#777");
document.querySelectorAll("#lights td.badge").forEach(td=>{td.className="badge";td.textContent="NO ANSWER"});
lostAt=lostAt||new Date();$("detail").textContent=`no answer from the server since ${lostAt.toLocaleTimeString()}`}
setTimeout(poll,500)}poll();
</script></body></html>
"""


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
            from edgecls.runtime.metrics import CONTENT_TYPE

            self._send(200, self.live.metrics.render(), CONTENT_TYPE)
        elif path == "/readyz":
            ready, why = self.live.readiness()
            self._send(200 if ready else 503, json.dumps({"ready": ready, "why": why}).encode(), "application/json")
        elif path == "/":
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/stream.mjpg":
            camera = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("camera", [None])[0]
            cameras = self.live.cameras()
            if camera is not None and camera not in cameras:
                self._send(404, json.dumps({"error": f"no camera named {camera!r}"}).encode(), "application/json")
            elif len(cameras) > 1:  # several cameras: the one named, else the first
                self._stream(self.live.camera_jpegs(camera or cameras[0]))
            else:
                self._stream(self.live.jpegs())
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
