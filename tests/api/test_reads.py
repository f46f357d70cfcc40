"""People, a person with their systems' live state, teams, the audit trail and the OpenAPI
document."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from onboarding.models import Person
from tests.api.conftest import newcomer
from tests.factories import make_person

pytestmark = pytest.mark.django_db(transaction=True)


def test_people_are_filtered_and_paged(hr, team, other_team):
    for name in ("amy", "ben", "cat"):
        make_person(name, team=team, status=Person.Status.ACTIVE)
    make_person("dan", team=other_team, first_name="Amyas")
    first = hr.get("/people", page_size=2).json()
    assert ([p["username"] for p in first["items"]], first["pages"], first["count"]) == (
        ["amy", "ben"], 2, 4,
    )  # fmt: skip
    assert [p["username"] for p in hr.get("/people", page=2, page_size=2).json()["items"]] == [
        "cat", "dan",
    ]  # fmt: skip
    assert [p["username"] for p in hr.get("/people", q="amy").json()["items"]] == ["amy", "dan"]
    assert hr.get("/people", team="nlp").json()["count"] == 1
    assert hr.get("/people", status="new").json()["items"][0]["username"] == "dan"
    assert hr.get("/people", status="gone").status_code == 400
    assert hr.get("/people", page=0).status_code == 400


def test_a_person_with_their_systems_asked_live(hr, fake, team):
    hr.post("/onboardings", newcomer("amy"))
    quiet = hr.get("/people/amy").json()
    assert quiet["systems"] is None and quiet["team"] == "vision"
    systems = hr.get("/people/amy", live=1).json()["systems"]
    assert [(s["system"], s["present"]) for s in systems] == [("Fake directory", True)]


def test_teams_are_listed_with_their_current_members(hr, team):
    make_person("amy", team=team)
    make_person("ben", team=team, status=Person.Status.OFFBOARDED)
    (vision,) = hr.get("/teams").json()
    assert (vision["name"], vision["freeipa_group"], vision["members"]) == (
        "vision",
        "team-vision",
        1,
    )
    # The hub group, now JupyterHub's team setting, is still answered under its old name.
    assert vision["jupyterhub_group"] == "team-vision"
    assert hr.get("/teams/vision").json() == vision
    assert hr.get("/teams/astro").json() == {"error": "There is no team 'astro'."}


def test_the_audit_trail_is_filtered_and_paged_by_event(hr, fake, team):
    for name in ("amy", "ben", "cat"):
        hr.post("/onboardings", newcomer(name))
    requests = hr.get("/audit-events", actor="api:hr-system", action="onboard.request", page_size=2)
    page = requests.json()
    assert [e["target"] for e in page["items"]] == ["cat", "ben"]
    rest = hr.get(
        "/audit-events", actor="api:hr-system", action="onboard.request", before=page["next_before"]
    ).json()
    assert ([e["target"] for e in rest["items"]], rest["next_before"]) == (["amy"], None)
    yesterday = str(timezone.localdate() - timedelta(days=1))
    about_amy = hr.get("/audit-events", target="amy", since=yesterday).json()["items"]
    assert {e["action"] for e in about_amy} >= {"onboard.request", "onboard.run"}
    assert hr.get("/audit-events", until=yesterday).json()["items"] == []


def test_the_openapi_document_lists_every_path_and_needs_no_token(db):
    answer = Client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document = json.loads(answer.content)
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        f"/api/v1{path}"
        for path in (
            "/people", "/people/{username}", "/onboardings", "/offboardings", "/moves",
            "/reinstatements", "/credential-resets", "/runs/{run_id}", "/runs/{run_id}/resume",
            "/runs/{run_id}/rollback", "/teams", "/teams/{name}", "/audit-events",
        )
    }  # fmt: skip
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    assert set(document["paths"]["/api/v1/people/{username}"]) == {"get", "patch"}
    waiting = document["components"]["schemas"]["OnboardingAccepted"]
    assert "waiting" in waiting["description"] and "waits_for_start" in waiting["properties"]
    for schema in ("Onboarding", "CredentialReset", "Reinstatement"):
        field = document["components"]["schemas"][schema]["properties"]["hand_over_to"]
        assert "one-time link" in field["description"], schema


def test_posts_need_no_csrf_token(hr, fake, team):
    hr.client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {hr.token}")
    assert hr.post("/onboardings", newcomer("amy")).status_code == 202
