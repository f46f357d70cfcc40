import socket

import pytest

from tests.factories import make_person

pytestmark = pytest.mark.django_db


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
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import make_run, make_team

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
    assert response.json() == {
        "status": "unavailable", "database": "ok", "broker": "unreachable", "runs_overdue": 0,
    }  # fmt: skip


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
