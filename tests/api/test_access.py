"""A lead token acts as a lead of its one team: other teams' people and runs do not exist for
it, and what only admins may do is refused. Each refusal is audited with the token's name."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import ApiToken
from onboarding.directory import DirectoryRights
from onboarding.models import AuditEvent, LifecycleRun, Person
from tests.api.conftest import newcomer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def nlp_member(hr, other_team) -> str:
    assert hr.post("/onboardings", newcomer("nia", team="nlp")).status_code == 202
    return "nia"


def denials() -> list[tuple[str, str, str]]:
    events = AuditEvent.objects.filter(action="access.denied").order_by("id")
    return [(e.actor, e.target, e.details["reason"]) for e in events]


def test_another_teams_person_and_run_are_404_as_if_unknown(vision_lead, nlp_member):
    run = LifecycleRun.objects.get(person__username="nia")
    shown = vision_lead.get("/people/nia")
    assert (shown.status_code, shown.json()) == (
        404,
        {"error": "AccessAdmin knows no person 'nia'."},
    )
    assert vision_lead.get(f"/runs/{run.pk}").json() == {"error": f"There is no run #{run.pk}."}
    assert vision_lead.get("/teams/nlp").status_code == 404
    offboard = vision_lead.post("/offboardings", {"username": "nia", "reason": "left"})
    assert offboard.status_code == 404
    assert vision_lead.get("/people/nobody").status_code == 404  # unknown: not audited
    assert denials() == [
        ("api:vision-script", "/api/v1/people/nia", "outside its team"),
        ("api:vision-script", f"/api/v1/runs/{run.pk}", "outside its team"),
        ("api:vision-script", "/api/v1/teams/nlp", "outside its team"),
        ("api:vision-script", "/api/v1/offboardings", "outside its team"),
    ]
    assert Person.objects.get(username="nia").status == Person.Status.ACTIVE


def test_a_lead_token_lists_and_onboards_for_its_own_team_only(vision_lead, nlp_member):
    assert vision_lead.post("/onboardings", newcomer("vic")).status_code == 202
    people = vision_lead.get("/people").json()
    assert [p["username"] for p in people["items"]] == ["vic"]
    assert [t["name"] for t in vision_lead.get("/teams").json()] == ["vision"]
    elsewhere = vision_lead.post("/onboardings", newcomer("wes", team="nlp"))
    assert elsewhere.json() == {"error": "There is no team 'nlp' (teams: vision)."}
    taken = vision_lead.post("/onboardings", newcomer("nia"))
    assert taken.json() == {"error": "The username 'nia' is not available; choose another."}
    assert not Person.objects.filter(username="wes").exists()


def test_what_only_admins_do_is_403_for_a_lead_token(vision_lead, hr, fake, team, monkeypatch):
    # The directory is not part of these tests; it says vic leads no team and is no admin.
    monkeypatch.setattr(
        "onboarding.access.rights_find", lambda username: DirectoryRights(True, False, False, ())
    )
    run = vision_lead.post("/onboardings", newcomer("vic")).json()
    assert vision_lead.post(f"/runs/{run['id']}/resume").status_code == 403
    audit = vision_lead.get("/audit-events")
    assert audit.json() == {"error": "Only platform admins can read the audit trail."}
    left = vision_lead.post("/offboardings", {"username": "vic", "reason": "left"})
    assert left.status_code == 202
    monkeypatch.setattr(
        "onboarding.access.rights_find", lambda username: DirectoryRights(True, False, True, ())
    )
    hr.post("/reinstatements", {"username": "vic", "reason": "came back"})
    refused = vision_lead.post("/offboardings", {"username": "vic", "reason": "left"})
    assert refused.status_code == 403
    assert "only a platform admin can" in refused.json()["error"]
    assert [reason for *_, reason in denials()] == [
        "admins only", "admins only", "the person is a platform admin or a team lead",
    ]  # fmt: skip


def test_a_lead_token_always_names_a_team():
    with pytest.raises(Exception, match="api_token_lead_has_a_team"):
        ApiToken.objects.create(
            name="x",
            role="lead",
            token_hash="0" * 64,
            expires_at=timezone.now() + timedelta(days=90),
        )
