import json
import socket
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from onboarding.models import LifecycleRun, Person, Sweep
from onboarding.runner import runs_overdue
from onboarding.tasks import runs_overdue_requeue_task
from tests.factories import make_person, make_run, make_team

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "m" * 40


@pytest.fixture
def client(settings) -> Client:
    """A monitoring system's client: it sends the metrics token, so it is told the details."""
    settings.METRICS_TOKEN = METRICS_TOKEN
    return Client(HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")


def test_anyone_is_told_only_whether_it_is_healthy(client, settings):
    anyone = Client()
    assert anyone.get("/healthz").json() == {"status": "ok"}
    assert anyone.get("/healthz?scope=web").json() == {"status": "ok"}
    wrong = Client(HTTP_AUTHORIZATION="Bearer " + "x" * 40).get("/healthz")
    assert wrong.json() == {"status": "ok"}
    assert "runs_overdue" in client.get("/healthz").json()

    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    down = anyone.get("/healthz")
    assert (down.status_code, down.json()) == (503, {"status": "unavailable"})


def test_a_platform_admin_logged_in_sees_the_details(settings):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    browser = Client()
    browser.force_login(admin, "django.contrib.auth.backends.ModelBackend")
    assert "broker" in browser.get("/healthz").json()


def test_healthz_reports_ok_when_database_and_broker_answer(client):
    make_person()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert {name: body[name] for name in ("status", "database", "broker")} == {
        "status": "ok", "database": "ok", "broker": "ok",
    }  # fmt: skip
    assert body["broker_persistence"] in ("aof", "rdb", "none", "unknown")
    assert body["runs_overdue"] == 0


def test_healthz_counts_runs_no_worker_has_in_hand(client, settings):
    team = make_team()
    long_ago = timezone.now() - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS + 5)
    make_run(make_person("waiting", team), due_at=long_ago)
    make_run(
        make_person("silent", team), state="running", worker="dead@host:1", heartbeat_at=long_ago
    )
    make_run(make_person("fresh", team), due_at=timezone.now())
    assert client.get("/healthz").json()["runs_overdue"] == 2


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_reports_503_when_the_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert {name: body[name] for name in ("status", "database", "broker", "runs_overdue")} == {
        "status": "unavailable", "database": "ok", "broker": "unreachable", "runs_overdue": 0,
    }  # fmt: skip
    assert "broker_persistence" not in body


def test_healthz_needs_no_login_but_the_dashboard_does(client):
    assert client.get("/healthz").status_code == 200
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.fixture
def hr_api():
    from tests.api.conftest import Caller, token_for

    return Caller(token_for("hr-system"))


@pytest.fixture
def runs_table_locked(hr_api):
    """Another session holds an exclusive lock on the runs table (a long migration, a stuck
    maintenance job) until the test ends; the API token was made before."""
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    holder = psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None,
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
    )  # fmt: skip
    holder.execute("LOCK TABLE onboarding_lifecyclerun, onboarding_person IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.django_db(transaction=True)
def test_a_locked_table_gives_probes_and_the_api_a_fast_clear_503(
    client, settings, hr_api, runs_table_locked
):
    import time

    settings.WEB_LOCK_TIMEOUT_MS = 1500
    api = hr_api

    started = time.monotonic()
    probe = client.get("/healthz")
    probe_took = time.monotonic() - started
    started = time.monotonic()
    runs = api.get("/people")
    api_took = time.monotonic() - started

    assert (probe.status_code, probe["Retry-After"]) == (503, "5")
    assert "The database is busy" in probe.content.decode()
    assert probe_took < 5, probe_took  # PROBE_LOCK_TIMEOUT_MS is 1 s
    assert runs.status_code == 503 and runs.json()["error"].startswith("The database is busy")
    assert api_took < 10, api_took


# The engine doing its work on time ------------------------------------------------------------


def test_healthz_is_unhealthy_once_the_sweeper_missed_three_periods(client, settings):
    settings.LIFECYCLE_SWEEP_SECONDS = 15
    runs_overdue_requeue_task()
    body = client.get("/healthz").json()
    assert (body["status"], body["engine"], body["problems"]) == ("ok", "ok", [])
    assert body["sweeper_last_run"] is not None

    # Beat stops: two missed periods are tolerated, the third is not.
    Sweep.objects.update(ran_at=timezone.now() - timedelta(seconds=2 * 15))
    assert client.get("/healthz").status_code == 200
    Sweep.objects.update(ran_at=timezone.now() - timedelta(seconds=3 * 15 + 1))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["problems"] == [
        "the sweeper has not run for 3 periods of LIFECYCLE_SWEEP_SECONDS=15 (is beat running?)"
    ]

    runs_overdue_requeue_task()
    assert client.get("/healthz").status_code == 200


def test_healthz_is_unhealthy_while_a_run_stays_overdue_though_sent_again(client, settings):
    team = make_team()
    stale = settings.LIFECYCLE_STALE_SECONDS
    make_run(make_person("waits", team), due_at=timezone.now() - timedelta(seconds=stale + 5))
    assert client.get("/healthz").status_code == 200
    make_run(
        make_person("forgotten", team), due_at=timezone.now() - timedelta(seconds=2 * stale + 5)
    )
    # Beat sends it again; nobody takes it, so it stays late.
    assert len(runs_overdue()) == 2
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert (body["runs_overdue_long"], body["runs_overdue"]) == (1, 0)
    assert "1 run(s) overdue for longer than LIFECYCLE_STALE_SECONDS" in body["problems"][0]


def test_healthz_is_unhealthy_when_an_end_date_passed_with_no_offboarding(client):
    team = make_team()
    yesterday = timezone.localdate() - timedelta(days=1)
    make_person("later", team, status=Person.Status.ACTIVE, end_date=yesterday + timedelta(days=9))
    make_person("going", team, status=Person.Status.OFFBOARDING, end_date=yesterday)
    make_person("gone", team, status=Person.Status.OFFBOARDED, end_date=yesterday)
    assert client.get("/healthz").status_code == 200
    make_person("stayed", team, status=Person.Status.ACTIVE, end_date=yesterday)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["leavers_late"] == 1
    assert response.json()["problems"] == [
        "1 person(s) past their end date with no offboarding started"
    ]


def test_healthz_is_degraded_while_an_offboarding_waits_on_a_system(client):
    leaver = make_person("leaver", make_team(), status=Person.Status.OFFBOARDING)
    run = make_run(
        leaver, kind=LifecycleRun.Kind.OFFBOARD, retries=1,
        due_at=timezone.now() + timedelta(seconds=30),
    )  # fmt: skip
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["offboardings_waiting"], body["problems"]) == ("degraded", 1, [])
    LifecycleRun.objects.filter(pk=run.pk).update(state=LifecycleRun.State.SUCCEEDED)
    assert client.get("/healthz").json()["status"] == "ok"


def test_web_probes_scope_asks_only_what_web_needs(client, settings):
    Sweep.objects.create(ran_at=timezone.now() - timedelta(hours=1))
    assert client.get("/healthz").status_code == 503
    response = client.get("/healthz?scope=web")
    assert (response.status_code, response.json()) == (
        200, {"status": "ok", "database": "ok", "broker": "ok"},
    )  # fmt: skip
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    assert client.get("/healthz?scope=web").status_code == 503


def test_the_health_command_exits_1_while_the_engine_is_unhealthy(capsys):
    call_command("health")
    assert json.loads(capsys.readouterr().out)["engine"] == "ok"
    Sweep.objects.create(ran_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(CommandError, match="the sweeper has not run") as failed:
        call_command("health")
    assert failed.value.returncode == 1
