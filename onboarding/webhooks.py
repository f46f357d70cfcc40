"""Signed webhooks: a JSON POST to each of WEBHOOK_URLS when a run starts, succeeds, fails or is
rolled back, for an HR system or a chat bridge to act on (docs/webhooks.md).

Each POST is signed with HMAC-SHA256 under WEBHOOK_SECRET over "<timestamp>.<body>", so a
receiver can tell it came from AccessAdmin and refuse one replayed later. The body names the run
and the person, never a secret. One Celery task per (event, URL) delivers it, retrying while the
receiver is unreachable, failing (5xx) or asks to wait (429); every attempt is audited as
"webhook.sent", and a delivery that succeeded once is not sent again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import WebhookDeferred
from onboarding.models import AuditEvent, LifecycleRun

logger = logging.getLogger(__name__)

State = LifecycleRun.State
SENDER = "accessadmin"
RUN_STARTED = "run.started"
# A run's end, by the state it ended in.
RUN_ENDED = {
    State.SUCCEEDED: "run.succeeded",
    State.FAILED: "run.failed",
    State.ROLLED_BACK: "run.rolled_back",
}
# A receiver that moved may send a 307/308 to another path of the same origin; never elsewhere.
REDIRECTS_FOLLOWED = 3


def webhook_event(*, event: str, run: LifecycleRun) -> dict:
    """What a receiver is told: the event, its unique id, the run and whose it is."""
    person = run.person
    at = run.started_at if event == RUN_STARTED else run.finished_at
    return {
        "id": str(uuid.uuid4()),
        "event": event,
        "occurred_at": (at or timezone.now()).isoformat(),
        "run": {
            "id": run.pk,
            "kind": run.kind,
            "state": run.state,
            "error": run.error,
            "url": f"{settings.SITE_URL.rstrip('/')}/runs/{run.pk}/",
        },
        "person": {
            "username": person.username,
            "team": person.team.name,
            "status": person.status,
        },
    }


def webhook_target(url: str) -> str:
    """The URL as it is audited and named to the task queue: no credentials, no query."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The X-AccessAdmin-Signature of a body sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhooks_queue(*, event: str, run: LifecycleRun) -> None:
    """Once the transaction is committed, queue one delivery per URL; nothing here can stop or
    slow the run."""
    if not settings.WEBHOOK_URLS:
        return
    from onboarding.tasks import webhook_deliver_task  # the tasks module imports the services

    def queue() -> None:
        try:
            body = webhook_event(event=event, run=run)
            for url in settings.WEBHOOK_URLS:
                webhook_deliver_task.delay(webhook_target(url), body)
        except Exception:
            logger.exception("run %s: its %s webhooks could not be queued", run.pk, event)

    transaction.on_commit(queue)


def run_started_webhooks(sender, run: LifecycleRun, **_) -> None:
    webhooks_queue(event=RUN_STARTED, run=run)


def run_finished_webhooks(sender, run: LifecycleRun, **_) -> None:
    event = RUN_ENDED.get(run.state)
    if event:
        webhooks_queue(event=event, run=run)


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after: str | None = None
    location: str | None = None


def webhook_deliver(*, target: str, event: dict) -> int | None:
    """POST the event to the configured URL audited as `target`, unless it was delivered there
    already. Returns the HTTP status, or None when nothing was sent. A receiver that answers 4xx
    (not 429) or redirects elsewhere is given up on at once; one that cannot be reached, answers
    5xx or 429 raises WebhookDeferred for the task to retry."""
    if _delivered(target, event):
        return None
    url = next((url for url in settings.WEBHOOK_URLS if webhook_target(url) == target), None)
    if url is None:
        _audit(target, event, "failed", error="no longer in WEBHOOK_URLS")
        return None
    body = json.dumps(event, separators=(",", ":")).encode()
    try:
        answer = _post(url, event, body)
    except (OSError, http.client.HTTPException) as error:
        message = _describe(error)
        _audit(target, event, "retried", error=message)
        raise WebhookDeferred(message) from None
    if 200 <= answer.status < 300:
        _audit(target, event, "succeeded", status=answer.status)
        return answer.status
    if answer.status == 429 or answer.status >= 500:
        _audit(target, event, "retried", status=answer.status)
        raise WebhookDeferred(f"HTTP {answer.status}", _retry_after(answer.retry_after))
    error = "redirected elsewhere, not followed" if 300 <= answer.status < 400 else ""
    _audit(target, event, "failed", status=answer.status, error=error)
    return answer.status


def webhook_deliver_failed(*, target: str, event: dict, error: str) -> None:
    """Retries ran out: said in the log and the audit; the run is not touched."""
    logger.error("webhook %s to %s not delivered: %s", event.get("event"), target, error)
    _audit(target, event, "failed", error=f"gave up after retries: {error}")


def _post(url: str, event: dict, body: bytes) -> Answer:
    parts = urlsplit(url)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "AccessAdmin-Webhook",
        "X-AccessAdmin-Event": event["event"],
        "X-AccessAdmin-Delivery": event["id"],
    }
    if parts.username is not None:
        # urllib does not send a URL's user:password itself; Basic auth carries them.
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    url = webhook_target(url) + (f"?{parts.query}" if parts.query else "")
    origin = (parts.scheme, parts.hostname, parts.port)
    opener = redirects_refused_opener()
    for _ in range(REDIRECTS_FOLLOWED + 1):
        timestamp = int(time.time())
        signature = webhook_signature(
            secret=settings.WEBHOOK_SECRET, timestamp=timestamp, body=body
        )
        request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked in settings
            url, data=body, method="POST",
            headers={**headers, "X-AccessAdmin-Timestamp": str(timestamp),
                     "X-AccessAdmin-Signature": signature},
        )  # fmt: skip
        answer = _send(opener, request)
        if answer.status not in (307, 308) or not answer.location:
            return answer
        moved = urlsplit(urljoin(url, answer.location))
        if (moved.scheme, moved.hostname, moved.port) != origin:
            return answer
        url = urlunsplit(moved._replace(fragment=""))
    return answer


def _send(opener: urllib.request.OpenerDirector, request: urllib.request.Request) -> Answer:
    try:
        with opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return Answer(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return Answer(
                error.code, error.headers.get("Retry-After"), error.headers.get("Location")
            )


class _RedirectsRefused(urllib.request.HTTPRedirectHandler):
    """A redirect comes back as the answer it is (an HTTPError), never followed by urllib."""

    def redirect_request(self, *args, **kwargs) -> None:
        return None


def redirects_refused_opener() -> urllib.request.OpenerDirector:
    """An opener that never follows a redirect: a receiver cannot send our POST, and what it
    carries, to another host."""
    return urllib.request.build_opener(_RedirectsRefused)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date, capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = (parsedate_to_datetime(value) - timezone.now()).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, float(settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS)))


def _describe(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    if reason is not None:
        return f"{type(error).__name__}: {reason}"
    return f"{type(error).__name__}: {error}"


def _delivered(target: str, event: dict) -> bool:
    return AuditEvent.objects.filter(
        action="webhook.sent", outcome="succeeded", details__delivery=event["id"],
        details__url=target,
    ).exists()  # fmt: skip


def _audit(target: str, event: dict, outcome: str, *, status: int | None = None, error: str = ""):
    run_id = event.get("run", {}).get("id")
    details = {"url": target, "event": event["event"], "delivery": event["id"], "status": status}
    if error:
        details["error"] = error
    audit_record(
        actor=SENDER, action="webhook.sent",
        target=event.get("person", {}).get("username", ""), outcome=outcome, details=details,
        run=LifecycleRun.objects.filter(pk=run_id).first() if run_id else None,
    )  # fmt: skip
