"""The live HTTP server against slow, idle and vanishing clients, over real loopback sockets."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from edgecls.runtime.live.http import LiveState, start_server


@pytest.fixture
def server():
    live = LiveState()
    live.publish({"state": "red", "score": 0.9, "fps": 25.0, "provider": "cpu", "frame": 1}, b"\xff\xd8jpeg\xff\xd9")
    server = start_server("127.0.0.1:0", live, max_clients=8, timeout_s=2.0)
    yield server, live
    live.close()
    server.shutdown()
    server.server_close()


def request(port: int, method: str, path: str, timeout: float = 5.0):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request(method, path)
    response = connection.getresponse()
    body = response.read() if not path.endswith(".mjpg") else b""
    return response, body, connection


def test_idle_clients_hold_no_threads_and_state_still_answers(server):
    server, _ = server
    port = server.server_address[1]
    before = threading.active_count()
    idle = []
    for _ in range(400):  # half a request each, then silence
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET /sta")
        idle.append(client)
    time.sleep(0.3)
    assert threading.active_count() <= before + 2, threading.active_count()
    started = time.perf_counter()
    response, body, _ = request(port, "GET", "/state")
    assert response.status == 200 and json.loads(body)["state"] == "red"
    assert time.perf_counter() - started < 1.0
    # After the per-connection timeout the server closes them.
    time.sleep(3.0)
    for client in idle[:20]:
        client.settimeout(1.0)
        assert client.recv(100) == b""
    for client in idle:
        client.close()


def test_viewers_beyond_their_cap_get_503_and_never_starve_health(server):
    """8 clients: 6 viewer slots, 2 kept for the short answers. A 7th viewer gets 503 at once; with
    every viewer slot taken /healthz, /readyz, /state and /metrics still answer within a second."""
    server, live = server
    port = server.server_address[1]
    viewers = [request(port, "GET", "/stream.mjpg")[2] for _ in range(6)]  # each holds a viewer slot
    started = time.perf_counter()
    response, body, _ = request(port, "GET", "/stream.mjpg")
    refused = response.read()
    assert response.status == 503 and b"too many viewers" in refused and time.perf_counter() - started < 1.0
    for path in ("/healthz", "/readyz", "/state", "/"):
        started = time.perf_counter()
        response, body, _ = request(port, "GET", path)
        assert response.status in (200, 503) and b"too many" not in body, path  # /readyz may say not fresh
        assert time.perf_counter() - started < 1.0, path
    for viewer in viewers:
        viewer.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        # A stream notices its viewer left when writing a frame fails, which over TCP can take a write
        # or two after the close: keep frames coming, as a live camera does.
        live.publish({"state": "green"}, b"\xff\xd8next\xff\xd9")
        response, _, viewer = request(port, "GET", "/stream.mjpg")
        viewer.close()
        if response.status == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail("viewer slots were not given back after the viewers left")


def test_head_answers_and_disconnects_are_quiet(server, capfd):
    server, live = server
    port = server.server_address[1]
    for path in ("/healthz", "/state", "/"):
        response, body, _ = request(port, "HEAD", path)
        assert response.status == 200 and body == b"" and int(response.headers["Content-Length"]) > 0
    for path in ("/stream.mjpg", "/state"):  # the client vanishes mid-response
        for _ in range(5):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()  # reset, not a polite close
        for index in range(3):
            live.publish({"state": "red", "frame": index}, b"\xff\xd8x\xff\xd9")
            time.sleep(0.05)
    time.sleep(0.5)
    assert request(port, "GET", "/healthz")[0].status == 200
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "BrokenPipe" not in captured.err, captured.err


def test_readyz_is_503_with_the_reason_unless_the_state_is_fresh():
    live = LiveState(stale_after_s=0.3)
    server = start_server("127.0.0.1:0", live, max_clients=8, timeout_s=2.0)
    port = server.server_address[1]

    def ready():
        response, body, connection = request(port, "GET", "/readyz")
        connection.close()
        return response.status, json.loads(body)["why"]

    try:
        assert ready() == (503, "no frame classified yet")
        live.publish({"state": "red", "score": 0.9, "frame": 1}, None)
        assert ready() == (200, "fresh")
        live.mark(state="unknown", reason="source lost", connected=False)
        assert ready() == (503, "source lost")
        state = json.loads(request(port, "GET", "/state")[1])
        assert state["state"] == "unknown" and state["reason"] == "source lost" and state["connected"] is False
        live.mark(connected=True)
        live.publish({"state": "red", "frame": 2}, None)
        time.sleep(0.5)
        status, why = ready()
        assert status == 503 and why.startswith("no fresh frame for")
        assert request(port, "HEAD", "/readyz")[0].status == 503  # HEAD answers as GET would
    finally:
        live.close()
        server.shutdown()
        server.server_close()


def serve_clip_with_http(model, folder, address: str, *extra: str):
    """serve-camera over a five-frame clip with `--http address` (and `extra` options): typer's result."""
    from helpers.clips import write_clip
    from typer.testing import CliRunner

    from edgecls.cli import app

    clip = write_clip(folder / "red.avi", ["red"] * 5)
    return CliRunner().invoke(app, ["serve-camera", str(model), "--source", str(clip), "--http", address, *extra])


def test_a_port_in_use_is_one_line_naming_the_address_and_the_fix(color_model, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = serve_clip_with_http(color_model, tmp_path, address)
    finally:
        taken.close()
    assert result.exit_code != 0 and "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert f"error: --http {address}: cannot listen there (the address is in use by another program)" in error
    assert "Pick another port" in error
    assert result.output.rstrip().endswith(error)  # the last line, after the start-up notices


def test_a_loopback_server_answers_only_its_own_names(tmp_path):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends Host: evil.example.
    It gets 403; loopback names, the bound address and allowed names get the state."""
    live = LiveState()
    server = start_server("127.0.0.1:0", live, allow_hosts=("proxy.internal",))
    port = server.server_address[1]

    def status(host: str | None) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.putrequest("GET", "/state", skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
        if answer.status == 403:
            assert b"--http-allow-host" in body
        return answer.status

    try:
        for good in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}", "proxy.internal:443", None):
            assert status(good) == 200, good
        for bad in (f"evil.example:{port}", "evil.example", "127.0.0.1.evil.example", f"[2001:db8::1]:{port}"):
            assert status(bad) == 403, bad
    finally:
        live.close()
        server.shutdown()
        server.server_close()


def test_a_network_address_is_served_with_a_loud_warning(color_model, tmp_path):
    for address, warned in (("0.0.0.0:0", True), ("127.0.0.1:0", False)):
        result = serve_clip_with_http(color_model, tmp_path, address)
        assert result.exit_code == 0, result.output
        assert ("anyone who can reach this machine sees the cameras" in result.output) is warned, result.output


def test_a_token_guards_every_path_but_health(tmp_path):
    """With a token, /state, the page, the stream and /metrics answer 401 without it; a bearer header,
    the cookie that /?token= sets, or ?token= on the stream let a client in; supervisors still probe
    /healthz and /readyz."""
    token = "k" * 20 + "-Secret_9"
    live = LiveState()
    live.publish({"state": "red", "score": 0.9, "fps": 25.0, "provider": "cpu", "frame": 1}, b"\xff\xd8jpeg\xff\xd9")
    server = start_server("127.0.0.1:0", live, token=token)
    port = server.server_address[1]

    def get(path: str, **headers: str):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        body = answer.read(7) if path.startswith("/stream") and answer.status == 200 else answer.read()
        connection.close()
        return answer, body

    try:
        for path in ("/state", "/", "/stream.mjpg", "/metrics", "/state?token=wrong-token-of-20-chars"):
            answer, body = get(path)
            assert answer.status == 401, path
            assert answer.getheader("WWW-Authenticate") == 'Bearer realm="edgecls"'
            assert b"Authorization: Bearer TOKEN" in body and token.encode() not in body
        assert get("/state", Authorization="Bearer " + token[:-1] + "x")[0].status == 401
        assert get("/healthz")[0].status == 200
        assert get("/readyz")[0].status in (200, 503)  # answered on its merits, not refused
        answer, body = get("/state", Authorization="Bearer " + token)
        assert answer.status == 200 and json.loads(body)["state"] == "red"
        answer, _ = get("/?token=" + token)  # a browser's first visit: the token goes into a cookie
        assert answer.status == 303 and answer.getheader("Location") == "/"
        cookie = answer.getheader("Set-Cookie")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        answer, body = get("/", Cookie="theme=dark; " + cookie.split(";")[0])
        assert answer.status == 200 and b"<title>edgecls live</title>" in body
        answer, body = get("/stream.mjpg?token=" + token)
        assert answer.status == 200 and b"--frame" in body
    finally:
        live.close()
        server.shutdown()
        server.server_close()


def test_a_weak_token_is_refused_with_how_to_make_one(color_model, tmp_path):
    result = serve_clip_with_http(color_model, tmp_path, "127.0.0.1:0", "--http-token", "short")
    assert result.exit_code == 2, result.output
    assert "--http-token must be 16 to 512" in result.output and "secrets.token_urlsafe" in result.output
    assert "Traceback" not in result.output


def test_a_network_address_with_a_token_from_the_environment_is_not_open_to_all(color_model, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECLS_HTTP_TOKEN", "t" * 24)
    result = serve_clip_with_http(color_model, tmp_path, "0.0.0.0:0")
    assert result.exit_code == 0, result.output
    assert "needs the token" in result.output and "plain HTTP on a network address" in result.output
    assert "anyone who can reach this machine" not in result.output and "t" * 24 not in result.output
