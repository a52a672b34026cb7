"""Events POSTed to a webhook: a local receiver on loopback that fails its first calls, one that never
answers well, and serve-camera's whole loop sending to it. Seconds each."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers.clips import write_clip
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.core.errors import StreamError
from edgecls.runtime import load_classifier
from edgecls.runtime.live import LiveConfig, run_live
from edgecls.runtime.live.webhook import Webhook, WebhookPolicy
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FrameSource

FAST = WebhookPolicy(attempts=4, first_backoff_s=0.05, max_backoff_s=0.2, timeout_s=2.0)


class Answering:
    """An HTTP server on 127.0.0.1 whose every answer is `respond(handler, body)`; it records each
    request's method and Authorization header."""

    def __init__(self, respond) -> None:
        self.methods: list[str] = []
        self.authorizations: list[str | None] = []
        answering = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self):
                answering.methods.append(self.command)
                answering.authorizations.append(self.headers.get("Authorization"))
                respond(self, self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            do_POST = do_GET = handle_one  # noqa: N815 - the http.server API

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def answer(handler, status: int, **headers: str) -> None:
    handler.send_response(status)
    for name, value in {**headers, "Content-Length": "0"}.items():
        handler.send_header(name, value)
    handler.end_headers()


class Receiver(Answering):
    """Answers 503 to its first `failures` POSTs, then 200, and keeps every body it accepted, in order."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.calls, self.accepted = failures, 0, []
        super().__init__(self._respond)

    def _respond(self, handler, body: bytes) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            answer(handler, 503)
        else:
            self.accepted.append(json.loads(body))
            answer(handler, 200)


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(failures: int = 0) -> Receiver:
        made.append(Receiver(failures))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_events_survive_a_receiver_that_fails_its_first_calls_and_stay_in_order(receiver):
    target = receiver(failures=3)
    hook = Webhook(target.url, FAST)
    started = time.perf_counter()
    for index in range(5):
        hook.post({"light": "main", "to": f"state-{index}"})
    assert time.perf_counter() - started < 0.05  # posting never waits for the network
    hook.close()
    assert [event["to"] for event in target.accepted] == [f"state-{index}" for index in range(5)]
    assert (hook.sent, hook.failed, hook.retries) == (5, 0, 3)
    assert "5 event(s) delivered, 0 failed, 3 retried" in hook.summary()


def test_undeliverable_events_are_counted_and_reported_once(receiver):
    target = receiver(failures=1000)
    notices: list[str] = []
    hook = Webhook(target.url, FAST, on_failure=notices.append)
    hook.post({"to": "red"})
    hook.post({"to": "green"})
    hook.close()
    assert (hook.sent, hook.failed) == (0, 2) and target.calls == 2 * FAST.attempts
    assert len(notices) == 1 and "could not be delivered (HTTP 503)" in notices[0]
    assert "2 failed" in hook.summary() and "HTTP 503" in hook.summary()


def test_credentials_in_the_url_become_basic_authentication_and_are_never_shown(receiver):
    import base64

    target = receiver(failures=1)
    url = target.url.replace("http://", "http://alice:s%40cret@")
    notices: list[str] = []
    hook = Webhook(url, FAST, on_failure=notices.append)
    hook.post({"to": "red"})
    hook.close()
    assert hook.sent == 1 and target.accepted == [{"to": "red"}]
    assert target.authorizations == ["Basic " + base64.b64encode(b"alice:s@cret").decode()] * 2
    assert "alice:***@" in hook.summary() and "cret" not in hook.summary()


def test_webhook_credentials_come_from_the_environment(receiver, monkeypatch):
    import base64

    target = receiver(failures=0)
    monkeypatch.setenv("HOOK_PASSWORD", "s@cret")
    hook = Webhook(target.url.replace("http://", "http://alice:${HOOK_PASSWORD}@"), FAST)
    hook.post({"to": "red"})
    hook.close()
    assert target.authorizations == ["Basic " + base64.b64encode(b"alice:s@cret").decode()]
    assert "cret" not in hook.summary()


def test_a_receiver_that_is_not_there_does_not_hold_up_the_stop():
    hook = Webhook("http://127.0.0.1:9/nothing-listens-here", WebhookPolicy(first_backoff_s=5.0, timeout_s=1.0))
    hook.post({"to": "red"})
    started = time.perf_counter()
    hook.close(wait_s=0.5)  # the event is waiting out a 5 s backoff: cut short
    assert time.perf_counter() - started < 3.0
    assert hook.failed == 1 and hook.sent == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_takes_no_credentials_along(status):
    elsewhere = Answering(lambda handler, body: answer(handler, 200))
    first = Answering(lambda handler, body: answer(handler, status, Location=elsewhere.url.replace("127.0.0.1", "localhost")))
    try:
        hook = Webhook(first.url.replace("http://", "http://alice:secret@"), FAST)
        hook.post({"to": "red"})
        hook.close()
        assert (hook.sent, hook.failed) == (0, 1)
        assert first.methods == ["POST"]  # not retried: another try gets the same redirect
        assert elsewhere.methods == []  # never followed, so no credentials went there
        assert f"HTTP {status} redirect" in hook.summary() and "not followed" in hook.summary()
        assert "secret" not in hook.summary()
    finally:
        first.close()
        elsewhere.close()


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline():
    def drip(handler, body):
        handler.wfile.write(b"H")
        for _ in range(30):
            time.sleep(0.2)
            try:
                handler.wfile.write(b"T")
                handler.wfile.flush()
            except OSError:
                return

    slow = Answering(drip)
    try:
        hook = Webhook(slow.url, WebhookPolicy(attempts=1, timeout_s=1.0))
        hook.post({"to": "red"})
        started = time.perf_counter()
        hook.close(wait_s=5.0)
        assert time.perf_counter() - started < 3.0  # each read was quick; the exchange as a whole was not
        assert (hook.sent, hook.failed) == (0, 1) and "no answer within 1 s" in hook.summary()
    finally:
        slow.close()


def test_serve_camera_posts_every_event_it_writes(color_model, receiver, tmp_path):
    target = receiver(failures=2)
    path = write_clip(tmp_path / "clip.avi", ["red"] * 15 + ["green"] * 15 + ["blue"] * 15)
    events = tmp_path / "events.jsonl"
    notices: list[str] = []
    config = LiveConfig(smooth=3, events=events, webhook=target.url)
    source = FrameSource(parse_source(str(path))).start()
    summary = run_live(load_classifier(color_model, "cpu"), source, config, on_status=notices.append)
    written = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(event["from"], event["to"]) for event in written] == [
        ("unknown", "red"),
        ("red", "green"),
        ("green", "blue"),
    ]
    assert target.accepted == written  # the same events, in the same order, after two failed calls
    assert (summary.events_sent, summary.events_failed) == (3, 0) and summary.errors == []
    assert any("3 event(s) delivered, 0 failed" in notice for notice in notices)


def test_a_webhook_that_loses_events_makes_the_run_fail(color_model, receiver, tmp_path):
    target = receiver(failures=1000)
    path = write_clip(tmp_path / "clip.avi", ["red"] * 10)
    result = CliRunner().invoke(
        app, ["serve-camera", str(color_model), "--source", str(path), "--webhook", target.url, "--smooth", "1"]
    )
    assert result.exit_code == 1
    assert "--webhook" in result.output and "not delivered (HTTP 503)" in result.output
    assert "Traceback" not in result.output


def test_a_webhook_that_is_not_a_url_is_refused_before_anything_runs(color_model, tmp_path):
    with pytest.raises(StreamError, match="`webhook` must be an http"):
        LiveConfig(webhook="ftp://example/events")
    path = write_clip(tmp_path / "clip.avi", ["red"] * 3)
    result = CliRunner().invoke(app, ["serve-camera", str(color_model), "--source", str(path), "--webhook", "nowhere"])
    assert result.exit_code == 2 and "--webhook must be an http:// or https:// URL" in result.output


def test_metrics_count_what_the_webhook_delivered(color_model, receiver, tmp_path):
    import urllib.request

    from helpers.waiting import wait_until
    from prometheus_client.parser import text_string_to_metric_families

    target = receiver(failures=1)
    path = write_clip(tmp_path / "clip.avi", ["red"] * 20 + ["green"] * 60)
    source = FrameSource(parse_source(str(path)), realtime=True).start()
    config = LiveConfig(smooth=1, http="127.0.0.1:0", webhook=target.url)
    notices: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: run_live(
            load_classifier(color_model, "cpu"), source, config, stop=stop, on_status=notices.append
        )
    )
    thread.start()
    try:
        assert wait_until(lambda: len(target.accepted) == 2)  # unknown -> red, red -> green
        base = notices[0].split()[1].rstrip("/")
        text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        samples = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
        assert samples["edgecls_webhook_events_sent_total"] == 2
        assert samples["edgecls_webhook_retries_total"] == 1 and samples["edgecls_webhook_events_failed_total"] == 0
    finally:
        stop.set()
        thread.join(10)
