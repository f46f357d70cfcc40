"""No stale word and no dead end: a finished run clears the "queued" message, a lead is not
offered a move with nowhere to go, and someone left "new" by a rollback can be onboarded again."""

from __future__ import annotations

import pytest

from tests.factories import make_person, make_run
from tests.web.conftest import unique
from web.previews import preview_token

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


def test_a_finished_run_clears_the_queued_message_and_announces_its_state(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    run = make_run(person, state="succeeded")

    live = as_admin.get(f"/runs/{run.pk}/live/?seen=running", HTTP_HX_REQUEST="true")

    page = live.content.decode()
    assert '<div id="messages" hx-swap-oob="innerHTML"></div>' in page
    assert f"Run #{run.pk}: succeeded." in page
    assert "hx-trigger" not in page  # it stops asking


def test_a_lead_of_one_team_is_not_offered_a_move_with_nowhere_to_go(as_lead_a, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")

    page = as_lead_a.get(f"/people/{person.username}/").content.decode()

    assert "Move to another team" not in page
    assert "There is no other team you lead to move them to." in page


def test_someone_left_new_by_a_rollback_can_be_onboarded_again(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="new")
    make_run(person, state="rolled_back")

    page = as_admin.get(f"/people/{person.username}/").content.decode()

    assert f'href="/onboard/?username={person.username}&amp;team={personas.team_a.name}"' in page
    form = as_admin.get("/onboard/", {"username": person.username, "team": personas.team_a.name})
    assert f'value="{person.username}"' in form.content.decode()


def test_offboarding_is_confirmed_only_by_the_username_exactly(as_lead_a, personas):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    shown = {"person": person.username, "reason": "contract ended"}

    response = as_lead_a.post(f"/people/{person.username}/offboard/", {
        "reason": "contract ended", "confirm_username": person.username.upper(),
        "action": "offboard", "preview_token": preview_token("offboard", shown),
    })  # fmt: skip

    assert f"Type {person.username} exactly to confirm" in response.content.decode()
    assert not person.runs.exists()


def test_onboarding_someone_offboarded_links_to_them_and_offers_reinstating(as_admin, personas):
    person = make_person(unique("p"), team=personas.team_a, status="offboarded")

    page = as_admin.post("/onboard/", {
        "username": person.username.upper(), "first_name": "P", "last_name": "Q",
        "email": "p@example.test", "team": personas.team_a.name, "action": "preview",
    }, follow=True).content.decode()  # fmt: skip

    assert (
        f"{person.username!r} is already known to AccessAdmin (Offboarded)".replace("'", "&#x27;")
        in page
    )
    assert f'href="/people/{person.username}/"' in page
    assert f'href="/people/{person.username}/reinstate/"' in page


def test_a_lead_is_told_nothing_of_another_teams_person_of_that_name(as_lead_a, personas):
    other = make_person(unique("p"), team=personas.team_b, status="offboarded")

    page = as_lead_a.post("/onboard/", {
        "username": other.username, "first_name": "P", "last_name": "Q",
        "email": "p@example.test", "team": personas.team_a.name, "action": "preview",
    }, follow=True).content.decode()  # fmt: skip

    assert "is not available; choose another" in page
    assert f'href="/people/{other.username}/"' not in page and "reinstate" not in page


def test_a_username_in_capitals_says_how_freeipa_will_store_it(as_admin, personas):
    page = as_admin.post("/onboard/", {
        "username": "JSmith" + unique("x"), "first_name": "J", "last_name": "S",
        "email": "j@example.test", "team": personas.team_a.name, "action": "preview",
    }, follow=True).content.decode()  # fmt: skip

    assert "FreeIPA stores usernames in lower case: this one will be <strong>jsmith" in page
