"""GET /metrics: Prometheus text for a scraper with the bearer token, nothing for anyone else."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from onboarding.audit import audit_record
from onboarding.models import AuditEvent, Credential, LifecycleRun, Step, Sweep
from onboarding.plans import plan_for
from tests.conftest import REPO_ROOT
from tests.factories import make_person, make_run, make_team

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-" + "x" * 32
State = LifecycleRun.State


@pytest.fixture
def token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client, token: str | None = TOKEN, scheme: str = "Bearer"):
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return client.get("/metrics", headers=headers)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, parsed by the Prometheus client's own parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def step_of(system: str) -> str:
    """The name of an onboarding step of that system, as the enabled systems' plan has it."""
    return next(step.name for step in plan_for("onboard").steps if step.system == system)


def test_without_a_configured_token_there_is_no_metrics_page(client, settings):
    settings.METRICS_TOKEN = ""
    assert scrape(client).status_code == 404
    assert scrape(client, token=None).status_code == 404


@pytest.mark.parametrize(
    "given, scheme",
    [(None, "Bearer"), ("", "Bearer"), ("wrong-" + "x" * 40, "Bearer"), (TOKEN[:-1], "Bearer"),
     (TOKEN, "Basic"), (TOKEN + "x", "Bearer")],
    ids=["no header", "empty", "wrong", "a prefix", "another scheme", "longer"],
)  # fmt: skip
def test_a_missing_or_wrong_token_is_refused_and_asked_for(client, token, given, scheme):
    response = scrape(client, token=given, scheme=scheme)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"accessadmin_" not in response.content


def test_only_get_is_answered(client, token):
    response = client.post("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405


def test_a_scrape_is_not_audited(client, token):
    make_run(make_person("ada"))
    before = AuditEvent.objects.count()
    assert scrape(client).status_code == 200
    assert scrape(client, token="wrong").status_code == 401
    assert AuditEvent.objects.count() == before


def test_an_empty_database_gives_zeros_for_every_family(client, token):
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(response.content.decode())
    assert value(found, "accessadmin_runs", kind="onboard", state="running") == 0
    assert value(found, "accessadmin_steps", system="freeipa", state="failed") == 0
    assert value(found, "accessadmin_step_duration_seconds_count", system="efs") == 0
    assert value(found, "accessadmin_step_failures_last_hour", system="iam", action="do") == 0
    assert value(found, "accessadmin_step_retries_last_hour", system="iam", action="undo") == 0
    assert value(found, "accessadmin_credentials_waiting") == 0
    assert value(found, "accessadmin_audit_events_total") == 0
    assert value(found, "accessadmin_runs_overdue") == 0
    assert value(found, "accessadmin_run_heartbeat_oldest_age_seconds") == 0
    assert value(found, "accessadmin_engine_healthy") == 1
    assert value(found, "accessadmin_sweep_age_seconds") == -1
    assert value(found, "accessadmin_runs_overdue_long") == 0
    assert value(found, "accessadmin_leavers_late") == 0
    assert value(found, "accessadmin_offboardings_waiting") == 0


def test_a_stopped_sweeper_shows_as_an_unhealthy_engine(client, token, settings):
    Sweep.objects.create(
        ran_at=timezone.now() - timedelta(seconds=3 * settings.LIFECYCLE_SWEEP_SECONDS + 1)
    )
    found = samples(scrape(client).content.decode())
    assert value(found, "accessadmin_engine_healthy") == 0
    assert value(found, "accessadmin_sweep_age_seconds") > 3 * settings.LIFECYCLE_SWEEP_SECONDS


def test_runs_steps_and_their_troubles_are_counted(client, token, settings):
    now = timezone.now()
    team = make_team()
    freeipa_step, efs_step = step_of("freeipa"), step_of("efs")

    running = make_run(
        make_person("ada", team), state=State.RUNNING, worker="w@host:1",
        heartbeat_at=now - timedelta(seconds=5),
    )  # fmt: skip
    Step.objects.create(
        run=running, name=freeipa_step, position=1, state=Step.State.DONE, attempts=1,
        started_at=now - timedelta(seconds=62), finished_at=now - timedelta(seconds=60),
    )  # fmt: skip
    Step.objects.create(run=running, name=efs_step, position=2, state=Step.State.RUNNING)
    audit_record(
        actor="w@host:1", action="step.do", target="ada", outcome="succeeded",
        details={"run": running.pk, "step": freeipa_step}, run=running,
    )  # fmt: skip
    audit_record(
        actor="w@host:1", action="step.do", target="ada", outcome="retried",
        details={"run": running.pk, "step": efs_step, "error": "throttled"}, run=running,
    )  # fmt: skip

    failed = make_run(make_person("bea", team), state=State.FAILED)
    Step.objects.create(
        run=failed, name=efs_step, position=1, state=Step.State.FAILED, attempts=1,
        started_at=now - timedelta(seconds=40), finished_at=now - timedelta(seconds=10),
        last_error="refused",
    )  # fmt: skip
    audit_record(
        actor="w@host:2", action="step.do", target="bea", outcome="failed",
        details={"run": failed.pk, "step": efs_step, "error": "refused"}, run=failed,
    )  # fmt: skip
    # A failure of two hours ago is history, not the last hour.
    AuditEvent(
        at=now - timedelta(hours=2), actor="w@host:2", action="step.do", target="bea",
        outcome="failed", details={"run": failed.pk, "step": efs_step}, run=failed,
    ).save()  # fmt: skip

    succeeded = make_run(make_person("cat", team), state=State.SUCCEEDED)
    Step.objects.create(run=succeeded, name=freeipa_step, position=1, state=Step.State.DONE)
    Credential.objects.create(run=succeeded, kind="temporary_password", ciphertext=b"x",
                              expires_at=now + timedelta(hours=1))  # fmt: skip
    Credential.objects.create(run=succeeded, kind="otp_enrolment", ciphertext=b"x",
                              expires_at=now - timedelta(seconds=1))  # fmt: skip

    silent = now - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS + 60)
    make_run(
        make_person("dan", team), kind="offboard", state=State.ROLLING_BACK, worker="w@host:3",
        heartbeat_at=silent,
    )  # fmt: skip

    response = scrape(client)
    assert response.status_code == 200
    found = samples(response.content.decode())

    assert value(found, "accessadmin_runs", kind="onboard", state="running") == 1
    assert value(found, "accessadmin_runs", kind="onboard", state="failed") == 1
    assert value(found, "accessadmin_runs", kind="onboard", state="succeeded") == 1
    assert value(found, "accessadmin_runs", kind="offboard", state="rolling_back") == 1
    assert value(found, "accessadmin_runs", kind="move", state="queued") == 0
    # Steps of finished runs are history: the succeeded run's step is not counted.
    assert value(found, "accessadmin_steps", system="freeipa", state="done") == 1
    assert value(found, "accessadmin_steps", system="efs", state="running") == 1
    assert value(found, "accessadmin_steps", system="efs", state="failed") == 1

    duration = "accessadmin_step_duration_seconds"
    assert value(found, f"{duration}_count", system="freeipa") == 1
    assert value(found, f"{duration}_sum", system="freeipa") == pytest.approx(2.0)
    assert value(found, f"{duration}_bucket", system="freeipa", le="1.0") == 0
    assert value(found, f"{duration}_bucket", system="freeipa", le="2.5") == 1
    assert value(found, f"{duration}_bucket", system="freeipa", le="+Inf") == 1
    assert value(found, f"{duration}_count", system="efs") == 1
    assert value(found, f"{duration}_sum", system="efs") == pytest.approx(30.0)

    assert value(found, "accessadmin_step_failures_last_hour", system="efs", action="do") == 1
    assert value(found, "accessadmin_step_retries_last_hour", system="efs", action="do") == 1
    assert value(found, "accessadmin_step_failures_last_hour", system="freeipa", action="do") == 0

    assert value(found, "accessadmin_credentials_waiting") == 1
    assert value(found, "accessadmin_audit_events_total") == AuditEvent.objects.latest("id").pk
    assert value(found, "accessadmin_runs_overdue") == 1
    oldest = value(found, "accessadmin_run_heartbeat_oldest_age_seconds")
    assert settings.LIFECYCLE_STALE_SECONDS + 60 <= oldest < settings.LIFECYCLE_STALE_SECONDS + 90


def test_a_scrape_makes_as_many_queries_however_much_there_is(client, token):
    def queries_of_one_scrape() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert scrape(client).status_code == 200
        return len(captured)

    team = make_team()
    make_run(make_person("ada", team))
    few = queries_of_one_scrape()
    for n in range(20):
        run = make_run(make_person(f"user{n}", team), state=State.FAILED)
        audit_record(
            actor="w", action="step.do", target=f"user{n}", outcome="failed",
            details={"run": run.pk, "step": step_of("iam")}, run=run,
        )  # fmt: skip
    # Two of them bound the request's statements and locks, and lift the bounds afterwards.
    assert queries_of_one_scrape() == few <= 14


def test_a_metrics_token_shorter_than_32_characters_stops_start_up():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "accessadmin.settings",
             "METRICS_TOKEN": "short"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 32 characters long" in result.stderr
