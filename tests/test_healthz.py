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
