"""The reinstate page, against the fake system: a reason and a team (a lead's own teams only), a
preview of that team's access, then the run; without a reason, or into another lead's team,
nothing changes."""

from __future__ import annotations

import pytest

from onboarding.directory import DirectoryRights
from onboarding.models import AuditEvent, LifecycleRun, Person
from tests.engine import conftest as engine
from tests.factories import make_person, make_team
from tests.web.conftest import LOCAL_BACKEND

pytestmark = pytest.mark.django_db

fake = engine.fake


@pytest.fixture
def lead_a(client, personas, monkeypatch):
    # The directory is the local stack's 389, not started here: it is taken to say that the
    # person reinstated is neither an admin nor a lead there.
    monkeypatch.setattr(
        "onboarding.access.rights_find", lambda username: DirectoryRights(True, False, False, ())
    )
    client.force_login(personas.lead_a, backend=LOCAL_BACKEND)
    return client


@pytest.fixture
def kim(personas, fake) -> Person:
    fake.account_create("kim", personas.team_a.name)
    fake.account_set("kim", disabled=True)
    return make_person("kim", team=personas.team_a, status="offboarded")


def post(client, data: dict, **options):
    return client.post("/people/kim/reinstate/", data, **options)


def nothing_changed(kim: Person, personas) -> bool:
    kim.refresh_from_db()
    return (kim.status, kim.team, LifecycleRun.objects.count()) == (
        Person.Status.OFFBOARDED, personas.team_a, 0,
    )  # fmt: skip


def test_a_lead_brings_a_person_back_into_another_team_they_lead_after_its_preview(
    lead_a, personas, kim, fake
):
    second = make_team("a-second", system_settings={"jupyterhub": {"group": "a-second"}})
    second.leads.add(personas.lead_a)
    asked = {"reason": "rehired", "team": second.name}

    preview = post(lead_a, {**asked, "action": "preview"}, follow=True)
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "What reinstating will restore" in page and "Reinstate kim into team a-second" in page
    assert nothing_changed(kim, personas)

    token = preview.context["preview_token"]
    done = post(lead_a, {**asked, "action": "reinstate", "preview_token": token})

    run = LifecycleRun.objects.get(person=kim)
    assert done.status_code == 302 and done["Location"] == f"/runs/{run.pk}/"
    kim.refresh_from_db()
    assert (kim.team, kim.status) == (second, Person.Status.REINSTATING)
    assert run.params == {"reason": "rehired", "from_team": personas.team_a.name,
                          "to_team": "a-second"}  # fmt: skip
    assert AuditEvent.objects.get(action="reinstate.request").actor == "lead-a"


def test_without_a_reason_nothing_is_previewed_or_changed(lead_a, personas, kim):
    response = post(lead_a, {"reason": " ", "team": personas.team_a.name, "action": "preview"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert response.context["preview"] is None
    assert nothing_changed(kim, personas)


def test_a_lead_cannot_bring_a_person_back_into_a_team_they_do_not_lead(lead_a, personas, kim):
    page = lead_a.get("/people/kim/reinstate/").content.decode()
    assert personas.team_b.name not in page

    response = post(lead_a, {"reason": "rehired", "team": personas.team_b.name,
                             "action": "preview"})  # fmt: skip

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert nothing_changed(kim, personas)
