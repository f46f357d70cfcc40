"""The reconcile page: admins see the open findings person by person and ask for a repair."""

from __future__ import annotations

import pytest

from onboarding.models import AuditEvent, Finding, LifecycleRun
from onboarding.systems import systems_reset
from tests.factories import make_person, make_run
from tests.web.conftest import LOCAL_BACKEND, Personas

pytestmark = pytest.mark.django_db


def finding(username: str, kind: str, detail: str, system: str = "iam") -> Finding:
    return Finding.objects.create(
        system=system, kind=kind, username=username, subject="role", detail=detail
    )


@pytest.fixture
def fake_systems(settings):
    """The engine tests' fake system, for the repair preview to ask (runs stay queued here)."""
    settings.ACCESSADMIN_SYSTEMS = ["tests.engine.fake.FakeSystem"]
    systems_reset()
    yield
    systems_reset()


@pytest.fixture
def as_admin(client, personas: Personas):
    client.force_login(personas.admin, backend=LOCAL_BACKEND)
    return client


def test_admins_see_open_findings_by_person_and_a_count_on_the_dashboard(as_admin, personas):
    make_person("hal", team=personas.team_a, status="active")
    finding("hal", "missing", "hal is active, but IAM holds no role of theirs")
    finding("ghost", "orphan", "IAM role accessadmin-ghost belongs to no person")
    gone = finding("ivy", "missing", "resolved long ago")
    Finding.objects.filter(pk=gone.pk).update(resolved_at=gone.first_seen)

    page = as_admin.get("/reconcile/").content.decode()

    assert "hal is active, but IAM holds no role of theirs" in page
    assert 'href="/reconcile/repair/hal/"' in page
    assert "accessadmin-ghost belongs to no person" in page
    assert "/reconcile/repair/ghost/" not in page, "orphans are only reported"
    assert "resolved long ago" not in page
    assert "2 open reconciliation findings" in as_admin.get("/").content.decode()


def test_a_person_with_a_run_under_way_has_no_repair_button(as_admin, personas):
    hal = make_person("hal", team=personas.team_a, status="active")
    finding("hal", "differs", "hal's IAM role differs")
    make_run(hal, kind="move")
    page = as_admin.get("/reconcile/").content.decode()
    assert "/reconcile/repair/hal/" not in page
    assert "A run for hal is under way" in page


def test_repair_starts_a_repair_run_and_is_audited(as_admin, personas, fake_systems):
    make_person("hal", team=personas.team_a, status="active")
    finding("hal", "missing", "no role")

    response = as_admin.post("/reconcile/repair/hal/", repair_confirmed(as_admin, "hal"))

    run = LifecycleRun.objects.get(person__username="hal")
    assert (run.kind, run.state, run.actor) == ("repair", "queued", "admin-user")
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    assert AuditEvent.objects.filter(action="repair.request", target="hal").exists()


def repair_confirmed(client, username: str) -> dict:
    """What the repair page's button sends: the token of the preview it showed."""
    page = client.get(f"/reconcile/repair/{username}/").content.decode()
    token = page.split('name="preview_token" value="')[1].split('"')[0]
    return {"action": "repair", "preview_token": token}


def test_the_repair_page_says_what_differs_and_what_a_repair_would_change(
    as_admin, personas, fake_systems
):
    make_person("hal", team=personas.team_a, status="active")
    finding("hal", "missing", "hal is active, but IAM holds no role of theirs")

    page = as_admin.get("/reconcile/repair/hal/")

    text = page.content.decode()
    assert page.status_code == 200
    assert "What differs" in text and "hal is active, but IAM holds no role of theirs" in text
    assert "What the repair will change" in text
    assert not LifecycleRun.objects.exists(), "a preview starts nothing"


def test_a_repair_without_its_preview_starts_nothing(as_admin, personas, fake_systems):
    make_person("hal", team=personas.team_a, status="active")
    response = as_admin.post("/reconcile/repair/hal/", {"action": "repair"})
    assert response.status_code == 400
    assert "What the repair will change" in response.content.decode()
    assert not LifecycleRun.objects.exists()


def test_team_leads_may_not_see_or_repair(client, personas):
    make_person("hal", team=personas.team_a, status="active")
    client.force_login(personas.lead_a, backend=LOCAL_BACKEND)
    assert client.get("/reconcile/").status_code == 403
    assert client.post("/reconcile/repair/hal/").status_code == 403
    assert not LifecycleRun.objects.exists()
