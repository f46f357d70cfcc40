"""Signed webhooks, posted to a real HTTP server on 127.0.0.1 that records what it gets: a run's
start and end reach every receiver, signed so a receiver can check them with the shared secret;
a receiver that is down or failing is tried again, one that refuses is not, and nothing a
receiver gets carries a secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from onboarding import tasks
from onboarding.errors import PermanentError, WebhookDeferred
from onboarding.models import AuditEvent, LifecycleRun
from onboarding.services import run_resume, run_rollback
from onboarding.tasks import webhook_deliver_task
from onboarding.webhooks import webhook_deliver, webhook_event, webhook_target
from tests.engine.conftest import onboard
from tests.engine.test_notifications import PASSWORD, onboard_with_credentials
from tests.mailbox import free_port
from tests.test_settings import load_settings

pytestmark = pytest.mark.django_db(transaction=True)

State = LifecycleRun.State
SECRET = "whsec-0123456789abcdef0123456789abcdef"


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    raw: bytes

    def header(self, name: str) -> str:
        # HTTP header names are case-insensitive; urllib sends them capitalised.
        return self.headers[name.lower()]

    @property
    def body(self) -> dict:
        return json.loads(self.raw)

    @property
    def event(self) -> str:
        return self.body["event"]


@dataclass
class Receiver:
    """Answers each POST with the next scripted (status, headers), then 200."""

    port: int
    posted: list[Posted] = field(default_factory=list)
    script: list[tuple[int, dict]] = field(default_factory=list)

    def url(self, path: str = "/hooks/hr") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self) -> list[str]:
        return [posted.event for posted in self.posted]


def receiver_serve(port: int) -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(port)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.posted.append(Posted(self.path, headers, raw))
            status, headers = receiver.script.pop(0) if receiver.script else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


@pytest.fixture
def hooks(fake, settings) -> Iterator[Receiver]:
    receiver, server = receiver_serve(free_port())
    settings.WEBHOOK_URLS = [receiver.url()]
    settings.WEBHOOK_SECRET = SECRET
    settings.SITE_URL = "https://accessadmin.example.test"
    settings.CELERY_TASK_MAX_RETRIES = 3
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def signature_valid(posted: Posted, secret: str = SECRET, *, tolerance: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md), written apart from the sender's code."""
    timestamp = posted.header("X-AccessAdmin-Timestamp")
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + posted.raw, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(posted.header("X-AccessAdmin-Signature"), f"sha256={expected}")


def deliveries(outcome: str | None = None) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action="webhook.sent").order_by("pk")
    return list(events.filter(outcome=outcome) if outcome else events)


def test_an_onboarding_posts_its_start_and_success_signed_and_without_secrets(fake, team, hooks):
    run = onboard_with_credentials(fake, team, requester=None)
    assert run.state == State.SUCCEEDED
    assert hooks.events() == ["run.started", "run.succeeded"]
    for posted in hooks.posted:
        assert signature_valid(posted)
        assert not signature_valid(posted, secret="another-secret-of-at-least-32-chars")
        assert posted.header("Content-Type") == "application/json"
        assert posted.header("X-AccessAdmin-Event") == posted.event
        assert posted.header("X-AccessAdmin-Delivery") == posted.body["id"]
        for secret in (PASSWORD, "JBSWY3DPEHPK3PXPQ7TX", SECRET):
            assert secret.encode() not in posted.raw
    started, succeeded = (posted.body for posted in hooks.posted)
    assert started["id"] != succeeded["id"]
    assert started["run"]["state"] == "running"
    assert succeeded["run"] == {
        "id": run.pk, "kind": "onboard", "state": "succeeded", "error": "",
        "url": f"https://accessadmin.example.test/runs/{run.pk}/",
    }  # fmt: skip
    assert succeeded["person"] == {"username": "ada", "team": "vision", "status": "active"}
    audited = deliveries("succeeded")
    assert [(e.details["event"], e.details["status"]) for e in audited] == [
        ("run.started", 200),
        ("run.succeeded", 200),
    ]
    assert {e.details["delivery"] for e in audited} == {started["id"], succeeded["id"]}
    assert all(e.run_id == run.pk for e in audited)


def test_a_tampered_or_replayed_request_fails_verification(fake, team, hooks):
    onboard("ada", team)
    posted = hooks.posted[-1]
    tampered = Posted(posted.path, posted.headers, posted.raw.replace(b"ada", b"eve"))
    assert not signature_valid(tampered)
    later = {**posted.headers, "x-accessadmin-timestamp": str(int(time.time()) + 3600)}
    assert not signature_valid(Posted(posted.path, later, posted.raw))


def test_a_failure_then_a_resume_posts_failed_and_succeeded_but_one_start(fake, team, hooks):
    fake.fail("account_create", PermanentError("fake", "quota exceeded"))
    run = onboard("bob", team)
    assert run.state == State.FAILED
    assert hooks.events() == ["run.started", "run.failed"]
    assert "quota exceeded" in hooks.posted[-1].body["run"]["error"]
    run_resume(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED
    assert hooks.events() == ["run.started", "run.failed", "run.succeeded"]


def test_a_rolled_back_run_is_posted(fake, team, hooks):
    fake.fail("account_create", PermanentError("fake", "quota exceeded"))
    run = onboard("bob", team)
    run_rollback(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == State.ROLLED_BACK
    assert hooks.events() == ["run.started", "run.failed", "run.rolled_back"]
    assert signature_valid(hooks.posted[-1])


def test_a_receiver_answering_500_is_tried_again_with_the_same_delivery(fake, team, hooks):
    hooks.script = [(500, {}), (503, {})]
    run = onboard("ada", team)
    assert run.state == State.SUCCEEDED
    assert hooks.events() == ["run.started"] * 3 + ["run.succeeded"]
    assert len({posted.body["id"] for posted in hooks.posted[:3]}) == 1
    assert all(signature_valid(posted) for posted in hooks.posted)
    assert [(e.outcome, e.details["status"]) for e in deliveries()][:3] == [
        ("retried", 500),
        ("retried", 503),
        ("succeeded", 200),
    ]


def test_a_receiver_that_refuses_connections_is_tried_again_until_it_is_back(
    fake, team, settings, monkeypatch
):
    port = free_port()
    settings.WEBHOOK_URLS = [f"http://127.0.0.1:{port}/hooks/hr"]
    settings.WEBHOOK_SECRET = SECRET
    settings.CELERY_TASK_MAX_RETRIES = 3
    run = onboard("ada", team)
    started = []

    def receiver_back_after_wait(retries: int) -> float:
        # The back-off's wait is when the receiver comes back.
        if not started:
            started.append(receiver_serve(port))
        return 0

    monkeypatch.setattr(tasks, "retry_delay", receiver_back_after_wait)
    event = webhook_event(event="run.succeeded", run=run)
    try:
        webhook_deliver_task.apply(args=[webhook_target(settings.WEBHOOK_URLS[0]), event])
    finally:
        for _, server in started:
            server.shutdown()
            server.server_close()
    (receiver, _), *_ = started
    assert receiver.events() == ["run.succeeded"]
    outcomes = [e.outcome for e in deliveries() if e.details["delivery"] == event["id"]]
    assert outcomes == ["retried", "succeeded"]
    refused = deliveries("retried")[-1]
    assert "Connection refused" in refused.details["error"]
    assert refused.details["status"] is None


def test_a_receiver_that_stays_down_is_given_up_on_and_the_run_is_untouched(fake, team, settings):
    settings.WEBHOOK_URLS = [f"http://127.0.0.1:{free_port()}/hooks/hr"]
    settings.WEBHOOK_SECRET = SECRET
    settings.CELERY_TASK_MAX_RETRIES = 2
    run = onboard("ada", team)
    assert run.state == State.SUCCEEDED
    failed = deliveries("failed")
    assert [e.details["event"] for e in failed] == ["run.started", "run.succeeded"]
    assert all("gave up after retries" in e.details["error"] for e in failed)
    assert len(deliveries("retried")) == 2 * 3


def test_a_receiver_answering_400_is_not_tried_again(fake, team, hooks):
    hooks.script = [(400, {})]
    onboard("ada", team)
    assert hooks.events() == ["run.started", "run.succeeded"]
    assert [(e.outcome, e.details["event"], e.details["status"]) for e in deliveries()] == [
        ("failed", "run.started", 400),
        ("succeeded", "run.succeeded", 200),
    ]


def test_a_delivered_event_is_not_sent_again_by_a_retried_task(fake, team, hooks):
    run = onboard("ada", team)
    event = webhook_event(event="run.succeeded", run=run)
    target = webhook_target(hooks.url())
    webhook_deliver_task.apply(args=[target, event])
    webhook_deliver_task.apply(args=[target, event])
    assert [p.body["id"] for p in hooks.posted].count(event["id"]) == 1
    assert len([e for e in deliveries("succeeded") if e.details["delivery"] == event["id"]]) == 1


def test_retry_after_is_honoured_up_to_its_cap(fake, team, hooks, settings):
    run = onboard("ada", team)
    event = webhook_event(event="run.succeeded", run=run)
    target = webhook_target(hooks.url())
    settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS = 120
    hooks.script = [(429, {"Retry-After": "7"}), (429, {"Retry-After": "86400"})]
    for expected in (7, 120):
        with pytest.raises(WebhookDeferred) as deferred:
            webhook_deliver(target=target, event=event)
        assert deferred.value.delay == expected


def test_credentials_and_query_of_a_url_are_used_but_never_audited(fake, team, hooks, settings):
    settings.WEBHOOK_URLS = [
        f"http://hr-bot:p%40ss@127.0.0.1:{hooks.port}/hooks/hr?token=query-secret"
    ]
    onboard("ada", team)
    posted = hooks.posted[-1]
    assert posted.path == "/hooks/hr?token=query-secret"
    assert posted.header("Authorization") == "Basic aHItYm90OnBAc3M="  # hr-bot:p@ss
    for event in deliveries():
        assert event.details["url"] == f"http://127.0.0.1:{hooks.port}/hooks/hr"
        assert "query-secret" not in json.dumps(event.details)
        assert "p%40ss" not in json.dumps(event.details)


def test_a_redirect_is_followed_on_the_same_host_only(fake, team, hooks):
    elsewhere, other_server = receiver_serve(free_port())
    try:
        hooks.script = [
            (308, {"Location": "/hooks/hr-v2"}),
            (307, {"Location": elsewhere.url()}),
        ]
        onboard("ada", team)
    finally:
        other_server.shutdown()
        other_server.server_close()
    assert [posted.path for posted in hooks.posted] == ["/hooks/hr", "/hooks/hr-v2", "/hooks/hr"]
    assert elsewhere.posted == []
    # The start followed the move to /hooks/hr-v2, which sent it elsewhere: given up on.
    assert [(e.outcome, e.details["event"], e.details["status"]) for e in deliveries()] == [
        ("failed", "run.started", 307),
        ("succeeded", "run.succeeded", 200),
    ]
    assert "not followed" in deliveries("failed")[0].details["error"]


def test_every_url_gets_its_own_delivery(fake, team, hooks, settings):
    second, server = receiver_serve(free_port())
    settings.WEBHOOK_URLS = [hooks.url(), second.url("/chat")]
    try:
        hooks.script = [(400, {})]
        onboard("ada", team)
    finally:
        server.shutdown()
        server.server_close()
    assert second.events() == ["run.started", "run.succeeded"]
    assert hooks.events() == ["run.started", "run.succeeded"]


GOOD_WEBHOOKS = {
    "SITE_URL": "https://accessadmin.example.test",
    "WEBHOOK_URLS": "https://hr.example.test/hook?token=t0ps3cret, https://chat.example.test/x",
    "WEBHOOK_SECRET": SECRET,
}


def test_settings_take_https_webhooks_with_a_long_secret_in_production():
    result = load_settings(GOOD_WEBHOOKS)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"WEBHOOK_URLS": "http://hr.example.test/hook"}, "WEBHOOK_URLS holds a URL (http"),
        ({"WEBHOOK_URLS": "ftp://hr.example.test/hook"}, "WEBHOOK_URLS holds a URL (ftp"),
        ({"WEBHOOK_URLS": "https:///no-host"}, "host none"),
        ({"WEBHOOK_URLS": "https://hr.example.test:99999/"}, "valid port"),
        ({"WEBHOOK_SECRET": None}, "WEBHOOK_SECRET must be set."),
        ({"WEBHOOK_SECRET": "too-short"}, "WEBHOOK_SECRET must be at least 32 characters"),
    ],
)
def test_settings_refuse_a_bad_webhook_url_or_secret(overrides, message):
    result = load_settings({**GOOD_WEBHOOKS, **overrides})
    assert result.returncode != 0
    assert message in result.stderr
    assert "t0ps3cret" not in result.stderr


def test_plain_http_webhooks_are_allowed_outside_production():
    result = load_settings(
        {"ACCESSADMIN_ENV": "test", "WEBHOOK_URLS": "http://127.0.0.1:9/hook",
         "WEBHOOK_SECRET": SECRET}
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
