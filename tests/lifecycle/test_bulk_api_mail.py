"""Bulk onboarding, the REST API and e-mail on the local stack: runs done by a real Celery
worker against the FreeIPA stand-in, moto and JupyterHub, and e-mail through a real SMTP server
on 127.0.0.1 (tests/mailbox.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from api.services import api_token_create
from onboarding.credentials import credentials_reveal
from onboarding.models import AuditEvent, LifecycleRun, Person
from tests.conftest import REPO_ROOT, Worker
from tests.lifecycle.conftest import unique
from tests.lifecycle.observe import access_points, hub_user, roles
from tests.mailbox import Mailbox, body

pytestmark = pytest.mark.django_db(transaction=True)

State = LifecycleRun.State
HEADER = "username,first_name,last_name,email,team\n"
# A local account: the directory's login is proven elsewhere (tests/web/test_login.py).
LOCAL = "django.contrib.auth.backends.ModelBackend"
ADMIN_EMAIL = "platform-admin@example.test"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def mailing_env(lifecycle_worker_env, mailbox) -> dict[str, str]:
    return {
        **lifecycle_worker_env,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(mailbox.port),
        "EMAIL_USE_TLS": "false",
        "DEFAULT_FROM_EMAIL": "accessadmin@example.test",
        "SITE_URL": "https://accessadmin.example.test",
    }


@pytest.fixture
def mailing_worker(mailing_env, tmp_path) -> Iterator[Worker]:
    worker = Worker(mailing_env, tmp_path / "worker.log").start(purge=True)
    try:
        yield worker
    finally:
        worker.stop()


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def runs_finished(run_ids: list[int], timeout: float = 180) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = dict(LifecycleRun.objects.filter(pk__in=run_ids).values_list("pk", "state"))
        if all(state in (State.SUCCEEDED, State.FAILED) for state in states.values()):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def mail_arrived(mailbox: Mailbox, expected: set[tuple[str, str]], timeout: float = 60) -> set:
    """Wait until every (address, words in the subject) has come; return what has not."""
    deadline = time.monotonic() + timeout
    while True:
        missing = {
            (to, words)
            for to, words in expected
            if not any(words in message["Subject"] for message in mailbox.to(to))
        }
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def secrets_of(run: LifecycleRun) -> list[str]:
    revealed = credentials_reveal(run=run, actor="csv-admin")
    otp_secret = revealed["otp_enrolment"].split("secret=")[1].split("&")[0]
    return [revealed["temporary_password"], otp_secret]


def test_a_file_with_one_bad_row_is_refused_whole_then_the_fixed_file_onboards_every_row(
    mailing_worker, mailing_env, mailbox, team, ipa, tmp_path
):
    names = [unique("c") for _ in range(3)]
    rows = [f"{name},Csv,Person,{name}@example.test,{team.name}\n" for name in names]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + rows[0] + rows[1].replace("@example.test", "-at-example") + rows[2])

    refused = manage(mailing_env, "onboard_csv", str(bad), "--wait")

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "row 3" in refused.stderr and "not a valid email address" in refused.stderr
    assert not Person.objects.filter(username__in=names).exists()
    assert not LifecycleRun.objects.exists()
    for name in names:
        assert ipa.freeipa.user_find(username=name) is None
        assert hub_user(mailing_env, name) is None

    admin = get_user_model().objects.create_superuser("csv-admin", ADMIN_EMAIL, "unused")
    browser = Client()
    browser.force_login(admin, LOCAL)
    text = HEADER + "".join(rows)
    upload = SimpleUploadedFile("people.csv", text.encode("utf-8-sig"), content_type="text/csv")
    page = browser.post(
        "/onboard/csv/", {"file": upload, "action": "preview"}, follow=True
    ).content.decode()
    assert all(f"Row {number}: {name}" in page for number, name in enumerate(names, start=2))
    token = page.split('name="preview_token" value="')[1].split('"')[0]
    started = browser.post(
        "/onboard/csv/", {"action": "onboard", "csv_text": text, "preview_token": token}
    )
    run_ids = [int(part) for part in started.url.split("runs=")[1].split(",")]

    states = runs_finished(run_ids)

    assert set(states.values()) == {State.SUCCEEDED}, (states, mailing_worker.log()[-3000:])
    for name in names:
        assert ipa.freeipa.user_find(username=name) is not None
        assert hub_user(mailing_env, name) is not None
        assert len(access_points(mailing_env, name)) == 1
        assert len(roles(mailing_env, name)) == 1
    bulk_page = browser.get(started.url).content.decode()
    assert bulk_page.count("Succeeded") == 3 and "Every run has finished." in bulk_page

    expected = {(f"{name}@example.test", "Welcome") for name in names}
    expected |= {(ADMIN_EMAIL, f"of {name} succeeded") for name in names}
    assert mail_arrived(mailbox, expected) == set(), mailing_worker.log()[-3000:]
    secrets = [
        secret for run in LifecycleRun.objects.filter(pk__in=run_ids) for secret in secrets_of(run)
    ]
    for message in mailbox.messages:
        assert not any(secret in body(message) for secret in secrets), message["Subject"]
    sent = AuditEvent.objects.filter(action="notification.sent", outcome="succeeded")
    assert {event.details["to"] for event in sent} >= {to for to, _ in expected}


class Caller:
    """An HR system calling the API, with a bearer token or without one."""

    def __init__(self, token: str = "") -> None:
        self.client = Client()
        if token:
            self.client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def onboard(self, fields: dict, key: str = ""):
        headers = {"Idempotency-Key": key} if key else {}
        return self.client.post(
            "/api/v1/onboardings", fields, content_type="application/json", headers=headers
        )

    def run(self, run_id: int) -> dict:
        return self.client.get(f"/api/v1/runs/{run_id}").json()


def test_an_api_token_onboards_a_person_once_and_follows_the_run_to_success(
    mailing_worker, mailing_env, mailbox, team, other_team, ipa
):
    username = unique("a")
    fields = {
        "username": username, "first_name": "Api", "last_name": "Person",
        "email": f"{username}@example.test", "team": team.name,
    }  # fmt: skip
    _, secret = api_token_create(
        name="hr-system", role="admin", team=None, expires_days=30, owner="", actor="cli:test"
    )
    _, other_lead = api_token_create(
        name="other-lead", role="lead", team=other_team, expires_days=30, owner="", actor="cli:test"
    )

    assert Caller().onboard(fields).status_code == 401
    # Another team does not exist for a lead's token (tests/api/test_access.py); the attempt is
    # recorded as a denial.
    refused = Caller(other_lead).onboard(fields)
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"].startswith(f"There is no team {team.name!r}")
    assert AuditEvent.objects.filter(actor="api:other-lead", outcome="denied").exists()
    assert not Person.objects.filter(username=username).exists()

    hr = Caller(secret)
    first = hr.onboard(fields, key="hr-42")
    retried = hr.onboard(fields, key="hr-42")
    assert first.status_code == retried.status_code == 202, first.content
    assert first.json()["id"] == retried.json()["id"]
    assert LifecycleRun.objects.filter(person__username=username).count() == 1

    run_id = first.json()["id"]
    deadline = time.monotonic() + 120
    shown = hr.run(run_id)
    while shown["state"] not in (State.SUCCEEDED, State.FAILED) and time.monotonic() < deadline:
        time.sleep(0.5)
        shown = hr.run(run_id)

    assert shown["state"] == State.SUCCEEDED, (shown, mailing_worker.log()[-3000:])
    assert {step["state"] for step in shown["steps"]} == {"done"}
    assert ipa.freeipa.user_find(username=username) is not None
    assert hub_user(mailing_env, username)["name"] == username
    assert mail_arrived(mailbox, {(fields["email"], "Welcome")}) == set()
    assert AuditEvent.objects.filter(actor="api:hr-system", target=username).exists()
