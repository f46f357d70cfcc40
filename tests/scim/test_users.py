"""What each SCIM request on /Users does to a person, through the lifecycle's services."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from onboarding.models import AuditEvent, LifecycleRun, Person
from scim.models import ScimUser
from tests.scim.conftest import ENTERPRISE, ERROR, GROUP, member, user_body

pytestmark = pytest.mark.django_db(transaction=True)


def _person(username: str) -> Person:
    return Person.objects.select_related("team").get(username=username)


def test_a_user_created_with_a_department_is_onboarded_into_that_team(idp, team, fake, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"

    answer = idp.post("/Users", user_body("ada", department="vision"))

    assert answer.status_code == 201, answer.content
    created = answer.json()
    assert answer["Location"].endswith(f"/scim/v2/Users/{created['id']}")
    assert answer["ETag"] == created["meta"]["version"]
    assert created["userName"] == "ada"
    assert created["externalId"] == "ext-ada"
    assert created["active"] is True
    assert created["groups"][0]["display"] == "vision"
    person = _person("ada")
    assert (person.status, person.team, person.external_id) == ("active", team, "ext-ada")
    assert fake.accounts["ada"].team == team.name
    run = person.runs.get()
    assert (run.kind, run.state, run.actor) == ("onboard", "succeeded", "scim:entra")


def test_a_user_with_no_team_waits_and_is_onboarded_when_a_group_takes_them(idp, team, fake):
    created = idp.post("/Users", user_body("ada")).json()

    assert not Person.objects.filter(username="ada").exists()
    assert AuditEvent.objects.filter(action="scim.user_waiting", target="ada").exists()
    assert created["active"] is True and "groups" not in created

    answer = idp.patch(
        f"/Groups/{team.pk}", {"op": "add", "path": "members", "value": [member(created["id"])]}
    )

    assert answer.status_code == 200, answer.content
    assert [m["value"] for m in answer.json()["members"]] == [created["id"]]
    assert _person("ada").status == "active"
    assert "ada" in fake.accounts


def test_deactivating_offboards_and_reactivating_reinstates(idp, team, fake):
    created = idp.post("/Users", user_body("ada")).json()
    idp.patch(
        f"/Groups/{team.pk}", {"op": "add", "path": "members", "value": [member(created["id"])]}
    )

    off = idp.patch(f"/Users/{created['id']}", {"op": "replace", "path": "active", "value": False})

    assert off.status_code == 200, off.content
    assert off.json()["active"] is False
    assert _person("ada").status == "offboarded"
    assert LifecycleRun.objects.get(kind="offboard").params["reason"].endswith("(SCIM)")

    on = idp.patch(f"/Users/{created['id']}", {"op": "replace", "path": "active", "value": True})

    assert on.status_code == 200, on.content
    assert on.json()["active"] is True
    assert _person("ada").status == "active"


def test_a_changed_name_updates_the_person_in_every_system(idp, team, fake):
    created = idp.post("/Users", user_body("ada")).json()
    idp.patch(
        f"/Groups/{team.pk}", {"op": "add", "path": "members", "value": [member(created["id"])]}
    )

    answer = idp.patch(
        f"/Users/{created['id']}",
        {"op": "replace", "path": "name.familyName", "value": "King"},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "ada.king@example.org"},
    )

    assert answer.status_code == 200, answer.content
    person = _person("ada")
    assert (person.last_name, person.email) == ("King", "ada.king@example.org")
    assert fake.accounts["ada"].last_name == "King"
    assert answer.json()["name"]["familyName"] == "King"


def test_joining_another_teams_group_moves_the_person(idp, team, other_team, fake):
    created = idp.post("/Users", user_body("ada")).json()
    add = {"op": "add", "path": "members", "value": [member(created["id"])]}
    idp.patch(f"/Groups/{team.pk}", add)

    answer = idp.patch(f"/Groups/{other_team.pk}", add)

    assert answer.status_code == 200, answer.content
    assert _person("ada").team == other_team
    assert fake.accounts["ada"].team == other_team.name
    assert idp.get(f"/Groups/{team.pk}").json().get("members") is None


def test_a_deleted_user_is_offboarded_gone_for_scim_and_kept_in_accessadmin(idp, team, fake):
    created = idp.post("/Users", user_body("ada")).json()
    idp.patch(
        f"/Groups/{team.pk}", {"op": "add", "path": "members", "value": [member(created["id"])]}
    )

    answer = idp.delete(f"/Users/{created['id']}")

    assert answer.status_code == 204
    assert idp.get(f"/Users/{created['id']}").status_code == 404
    assert idp.get("/Users", filter='userName eq "ada"').json()["totalResults"] == 0
    assert _person("ada").status == "offboarded"
    assert ScimUser.objects.get(pk=created["id"]).deleted_at is not None
    again = idp.post("/Users", user_body("ada"))
    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"


def test_a_put_with_active_false_offboards_as_okta_sends_it(idp, team, fake):
    created = idp.post("/Users", user_body("ada")).json()
    idp.patch(
        f"/Groups/{team.pk}", {"op": "add", "path": "members", "value": [member(created["id"])]}
    )

    answer = idp.put(f"/Users/{created['id']}", user_body("ada", active=False, id=created["id"]))

    assert answer.status_code == 200, answer.content
    assert _person("ada").status == "offboarded"


def test_get_filter_by_username_finds_the_user_okta_looks_for_before_creating(idp):
    idp.post("/Users", user_body("ada"))

    found = idp.get("/Users", filter='userName eq "ADA"').json()
    missing = idp.get("/Users", filter='userName eq "grace"').json()

    assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "ada"
    assert missing["totalResults"] == 0 and missing["Resources"] == []


def test_a_username_that_maps_to_no_valid_freeipa_username_is_refused(idp):
    answer = idp.post("/Users", user_body("root"))

    assert answer.status_code == 400
    error = answer.json()
    assert error["schemas"] == [ERROR]
    assert error["scimType"] == "invalidValue"
    assert "reserved" in error["detail"]
    assert not ScimUser.objects.exists()


def test_email_usernames_map_to_their_lower_cased_local_part(idp, settings, team):
    settings.SCIM_USERNAME_FROM = "email_local_part"
    settings.SCIM_TEAM_ATTRIBUTE = "department"

    answer = idp.post("/Users", user_body("Ada.Lovelace@Example.test", department="vision"))

    assert answer.status_code == 201, answer.content
    assert answer.json()["userName"] == "Ada.Lovelace@Example.test"
    assert _person("ada.lovelace").status == "active"


def test_an_email_username_rule_refuses_a_username_that_is_no_email(idp, settings):
    settings.SCIM_USERNAME_FROM = "email_local_part"

    answer = idp.post("/Users", user_body("ada"))

    assert answer.status_code == 400
    assert "email_local_part" in answer.json()["detail"]
    assert not ScimUser.objects.exists()


def test_groups_are_the_teams(idp, team, other_team):
    listed = idp.get("/Groups").json()

    assert [g["displayName"] for g in listed["Resources"]] == ["nlp", "vision"]
    assert listed["Resources"][0]["schemas"] == [GROUP]
    found = idp.get("/Groups", filter='displayName eq "vision"').json()
    assert [g["id"] for g in found["Resources"]] == [str(team.pk)]


def test_creating_a_group_is_refused_unless_admins_allowed_it(idp, settings):
    body = {"schemas": [GROUP], "displayName": "robotics"}

    refused = idp.post("/Groups", body)

    assert refused.status_code == 403
    assert refused.json()["schemas"] == [ERROR]
    settings.SCIM_GROUPS_CREATE_TEAMS = True
    made = idp.post("/Groups", body)
    assert made.status_code == 201, made.content
    assert made.json()["displayName"] == "robotics"


def test_the_enterprise_extension_is_served(idp, team, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    created = idp.post("/Users", user_body("ada", department="vision")).json()

    assert created[ENTERPRISE]["department"] == "vision"


def test_reactivating_after_a_move_brings_them_back_into_the_team_they_left(
    idp, team, other_team, fake
):
    created = idp.post("/Users", user_body("ada")).json()
    add = {"op": "add", "path": "members", "value": [member(created["id"])]}
    idp.patch(f"/Groups/{team.pk}", add)
    idp.patch(f"/Groups/{other_team.pk}", add)
    path = f"/Users/{created['id']}"

    idp.patch(path, {"op": "replace", "path": "active", "value": False})
    idp.patch(path, {"op": "replace", "path": "active", "value": True})

    assert (_person("ada").status, _person("ada").team) == ("active", other_team)
    assert fake.accounts["ada"].team == other_team.name


def test_an_offboarded_user_added_to_a_group_comes_back_into_it(idp, team, other_team, fake):
    created = idp.post("/Users", user_body("ada")).json()
    idp.patch(
        f"/Groups/{team.pk}", {"op": "add", "path": "members", "value": [member(created["id"])]}
    )
    path = f"/Users/{created['id']}"
    idp.patch(path, {"op": "replace", "path": "active", "value": False})

    idp.patch(
        f"/Groups/{other_team.pk}",
        {"op": "add", "path": "members", "value": [member(created["id"])]},
    )
    assert _person("ada").status == "offboarded"
    idp.patch(path, {"op": "replace", "path": "active", "value": True})

    assert (_person("ada").status, _person("ada").team) == ("active", other_team)


def test_admins_see_who_waits_for_a_team(idp, team):
    waiting = idp.post("/Users", user_body("ada")).json()
    placed = idp.post("/Users", user_body("grace")).json()
    idp.patch(
        f"/Groups/{team.pk}", {"op": "add", "path": "members", "value": [member(placed["id"])]}
    )
    assert waiting["active"] is True
    out = StringIO()

    call_command("scim_users", "--waiting", stdout=out)

    assert "ada" in out.getvalue() and "no team named" in out.getvalue()
    assert "grace" not in out.getvalue()
