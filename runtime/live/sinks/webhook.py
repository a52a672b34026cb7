"""`--webhook`: every change of a light's state POSTed as JSON, off the loop (see `live.webhook`)."""

from __future__ import annotations

from collections.abc import Callable

from edgecls.runtime.live.config import LiveConfig
from edgecls.runtime.live.summary import LiveSummary
from edgecls.runtime.live.webhook import Webhook

from .base import Figure, Sink


class WebhookSink(Sink):
    def __init__(self, url: str, notify: Callable[[str], None]) -> None:
        self.notify = notify
        self.webhook = Webhook(url, on_failure=notify)

    def on_change(self, event: dict) -> None:
        self.webhook.post(event)  # queued: the POST happens on the webhook's own thread

    def close(self) -> list[str]:
        self.webhook.close()
        self.notify(self.webhook.summary())
        if self.webhook.failed:
            return [f"`webhook`: {self.webhook.failed} event(s) not delivered ({self.webhook.last_error})"]
        return []

    def add_to(self, summary: LiveSummary) -> None:
        summary.events_sent, summary.events_failed = self.webhook.sent, self.webhook.failed

    def figures(self) -> list[Figure]:
        return [
            Figure("edgecls_webhook_events_sent", "Events the webhook accepted.", self.webhook.sent),
            Figure("edgecls_webhook_events_failed", "Events not delivered after every retry.", self.webhook.failed),
            Figure("edgecls_webhook_retries", "POSTs repeated after a failure.", self.webhook.retries),
        ]


def make(config: LiveConfig, notify: Callable[[str], None]) -> Sink | None:
    return WebhookSink(config.webhook, notify) if config.webhook else None
