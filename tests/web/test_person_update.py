"""Changing a person's name and e-mail from their page, against the fake system: admins and the
person's team lead may; bad input, another team's lead or a refusing system change nothing."""

from __future__ import annotations

import pytest

from onboarding.directory import DirectoryRights
from onboarding.errors import PermanentError
from onboarding.models import AuditEvent, Person
from tests.engine import conftest as engine
from tests.factories import make_person
from tests.web.conftest import LOCAL_BACKEND, Personas

pytestmark = pytest.mark.django_db

fake = engine.fake


@pytest.fixture
def plain_members(monkeypatch):
    """The directory is the local stack's 389, not started for these tests: it is taken to say
    that the people acted on are neither admins nor leads there."""
    monkeypatch.setattr(
        "onboarding.access.rights_find", lambda username: DirectoryRights(True, False, False, ())
    )


def member(fake, team, username: str = "kim") -> Person:
    fake.account_create(username, team.name)
    return make_person(username, team=team, status="active")


def change(client, person: Person, **fields):
    data = {"first_name": person.first_name, "last_name": person.last_name,
            "email": person.email, **fields}  # fmt: skip
    return client.post(f"/people/{person.username}/details/", data)


def as_role(client, personas: Personas, role: str):
    client.force_login(getattr(personas, role), backend=LOCAL_BACKEND)
    return client


def test_the_person_page_offers_the_form_and_saving_it_changes_the_system_then_the_record(
    client, personas, fake, plain_members
):
    kim = member(fake, personas.team_a)
    as_role(client, personas, "lead_a")
    page = client.get(f"/people/{kim.username}/").content.decode()
    assert "Change name or e-mail" in page and f'value="{kim.email}"' in page

    response = change(client, kim, first_name="Kimberly", email="kimberly@example.test")

    assert response.status_code == 302 and response["Location"] == f"/people/{kim.username}/"
    kim.refresh_from_db()
    assert (kim.first_name, kim.email) == ("Kimberly", "kimberly@example.test")
    assert fake.accounts["kim"].email == "kimberly@example.test"
    event = AuditEvent.objects.get(action="person.update", target="kim")
    assert (event.actor, event.outcome) == ("lead-a", "succeeded")
    assert event.details["first_name"] == {"before": "Kim", "after": "Kimberly"}
    shown = client.get(f"/people/{kim.username}/").content.decode()
    assert "Kim → Kimberly" in shown


def test_a_lead_of_another_team_is_refused_and_the_refusal_is_audited(
    client, personas, fake, plain_members
):
    kim = member(fake, personas.team_a)
    as_role(client, personas, "lead_b")

    response = change(client, kim, last_name="Changed")

    assert response.status_code == 404
    assert Person.objects.get(pk=kim.pk).last_name == "Example"
    assert fake.calls["account_details_set"] == 0
    assert AuditEvent.objects.filter(
        action="access.denied", actor="lead-b", outcome="denied"
    ).exists()


def test_a_bad_email_is_shown_beside_its_field_and_nothing_is_asked_or_changed(
    client, personas, fake
):
    kim = member(fake, personas.team_a)
    as_role(client, personas, "admin")

    response = change(client, kim, email="kim@")

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert Person.objects.get(pk=kim.pk).email == kim.email
    assert fake.calls["account_details_set"] == 0


def test_a_refusing_system_is_said_and_the_record_stays_as_it_was(client, personas, fake):
    kim = member(fake, personas.team_a)
    fake.fail("account_details_set", PermanentError("fake", "the directory said no"))
    as_role(client, personas, "admin")

    response = change(client, kim, last_name="Other")

    assert response.status_code == 200
    assert "the directory said no; nothing was changed" in response.content.decode()
    assert Person.objects.get(pk=kim.pk).last_name == "Example"
    assert AuditEvent.objects.get(action="person.update").outcome == "failed"
