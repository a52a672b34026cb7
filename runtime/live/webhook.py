"""State-change events POSTed to a webhook from a thread of its own: in order, retried with
exponential backoff, never blocking the live loop, and never lost silently (what could not be
delivered is counted, and the last error kept for the summary)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import queue
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from edgecls.core.errors import StreamError
from edgecls.runtime.sources import expand_environment, mask_credentials

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookPolicy:
    """How hard one event is tried: `attempts` POSTs in all, waiting `first_backoff_s`, then twice as
    long each time (at most `max_backoff_s`); each POST has `timeout_s` in all, from connecting to the
    last byte of the answer (a receiver that drips its answer cannot hold the thread longer)."""

    attempts: int = 5
    first_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    timeout_s: float = 5.0
    queue_size: int = 1000  # events waiting beyond this are dropped and counted as failed


def check_webhook_url(url: str) -> str:
    """`url`, its ${NAME} read from the environment (see `expand_environment`), if it is an http(s) URL.

    Raises:
        StreamError: anything else, or a variable that is not set, naming `webhook`.
    """
    url = expand_environment(url, "webhook")
    if not url.lower().startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise StreamError(
            f"`webhook` must be an http:// or https:// URL, e.g. http://127.0.0.1:9000/events; "
            f"received {mask_credentials(url)!r}."
        )
    return url


def _target_and_headers(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its user:password and the headers of every POST, with HTTP basic
    authentication where the URL carries credentials."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json"}
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), headers


class _Final(Exception):
    """An answer that trying again will not change (a redirect, a refusal): the event fails now."""


class Webhook:
    """Queue events with `post` (returns at once); `close` waits a bounded time for the rest."""

    def __init__(
        self,
        url: str,
        policy: WebhookPolicy | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.url = check_webhook_url(url)
        self._target, self._headers = _target_and_headers(self.url)
        self.policy = policy or WebhookPolicy()
        self.on_failure = on_failure or (lambda message: None)  # told once, at the first failed event
        self.sent = 0
        self.failed = 0
        self.retries = 0
        self.last_error = ""
        self._queue: queue.Queue[dict | None] = queue.Queue(self.policy.queue_size)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgecls-webhook", daemon=True)
        self._thread.start()

    def post(self, event: dict) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._fail("queue full: the receiver is slower than the events")

    def close(self, wait_s: float = 10.0) -> None:
        """Deliver what is queued within `wait_s` (backoff waits are cut short); the rest counts as failed."""
        self._queue.put(None)
        self._thread.join(wait_s)
        if self._thread.is_alive():
            self._stopping.set()  # stop waiting between attempts; the POST under way times out on its own
            self._thread.join(self.policy.timeout_s + 1.0)
        while True:
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                self._fail("not delivered before the run stopped")

    def summary(self) -> str:
        line = f"webhook {mask_credentials(self.url)}: {self.sent} event(s) delivered, {self.failed} failed"
        if self.retries:
            line += f", {self.retries} retried"
        return line + (f" (last error: {self.last_error})" if self.failed else "")

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            self._deliver(event)

    def _deliver(self, event: dict) -> None:
        body = json.dumps(event).encode()
        backoff = self.policy.first_backoff_s
        for attempt in range(self.policy.attempts):
            if attempt:
                self.retries += 1
                if self._stopping.wait(backoff):
                    break
                backoff = min(backoff * 2, self.policy.max_backoff_s)
            try:
                error = self._post_once(body)
            except _Final as final:
                self.last_error = str(final)
                break
            if error is None:
                self.sent += 1
                return
            self.last_error = error
        self._fail(self.last_error or "not delivered before the run stopped")

    def _post_once(self, body: bytes) -> str | None:
        """One POST within the policy's deadline: None when a 2xx answer came, else why not (worth
        another try). A redirect is never followed (urllib would turn the POST into a body-less GET
        and could carry the credentials to another host), so it fails the event, as a 4xx does.

        Raises:
            _Final: an answer that another try will not change.
        """
        parts = urllib.parse.urlsplit(self._target)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        timeout = self.policy.timeout_s
        if parts.scheme.lower() == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        expired = threading.Event()
        deadline = threading.Timer(timeout, _cut, (connection, expired))  # the whole exchange, not each read
        deadline.start()
        try:
            connection.request("POST", path, body=body, headers=self._headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as error:
            if expired.is_set():
                return f"no answer within {timeout:g} s"
            return str(getattr(error, "strerror", None) or error) or type(error).__name__
        finally:
            deadline.cancel()
            connection.close()
        if 200 <= response.status < 300:
            return None
        if 300 <= response.status < 400:
            where = mask_credentials(response.getheader("Location") or "?")
            raise _Final(f"HTTP {response.status} redirect to {where}, not followed: give `webhook` the final URL")
        if response.status in (408, 429) or response.status >= 500:
            return f"HTTP {response.status}"
        raise _Final(f"HTTP {response.status}")

    def _fail(self, error: str) -> None:
        self.failed += 1
        self.last_error = error
        if self.failed == 1:
            self.on_failure(f"webhook {mask_credentials(self.url)}: an event could not be delivered ({error})")
        logger.debug("webhook event failed: %s", error)


def _cut(connection: http.client.HTTPConnection, expired: threading.Event) -> None:
    """End an exchange that ran past its deadline: a read blocked on the socket returns at once."""
    expired.set()
    if connection.sock is not None:
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)
