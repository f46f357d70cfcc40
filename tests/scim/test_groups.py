"""Groups are the teams, and their schema says what a client may change: a team keeps its name
(displayName is immutable), a member is named by AccessAdmin (members' display is read-only and
returned when asked), and a person leaves their team by joining another one, never by being left
in none."""

from __future__ import annotations

import pytest

from onboarding.models import LifecycleRun, Person
from tests.scim.conftest import ERROR, GROUP, user_body

pytestmark = pytest.mark.django_db(transaction=True)


def _member_of(idp, team, user_name: str = "ada") -> dict:
    created = idp.post("/Users", user_body(user_name)).json()
    joined = idp.patch(
        f"/Groups/{team.pk}", {"op": "add", "path": "members", "value": [{"value": created["id"]}]}
    )
    assert joined.status_code == 200, joined.content
    return created


def _attribute(schema: dict, name: str) -> dict:
    return next(a for a in schema["attributes"] if a["name"] == name)


def test_the_group_schema_says_a_team_keeps_its_name_and_names_its_members(idp):
    schema = idp.get(f"/Schemas/{GROUP}").json()

    assert _attribute(schema, "displayName")["mutability"] == "immutable"
    members = _attribute(schema, "members")["subAttributes"]
    display = next(a for a in members if a["name"] == "display")
    assert (display["mutability"], display["returned"]) == ("readOnly", "request")


def test_a_put_keeping_the_name_is_accepted_and_adds_the_members_sent(idp, team):
    created = idp.post("/Users", user_body("ada")).json()

    replaced = idp.put(
        f"/Groups/{team.pk}",
        {"schemas": [GROUP], "displayName": "vision", "externalId": "g-1",
         "members": [{"value": created["id"]}]},
    )  # fmt: skip

    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["externalId"] == "g-1"
    assert Person.objects.get(username="ada").team == team


def test_a_put_with_another_name_is_a_mutability_error_that_changes_nothing(idp, team):
    created = idp.post("/Users", user_body("ada")).json()

    refused = idp.put(
        f"/Groups/{team.pk}",
        {"schemas": [GROUP], "displayName": "vision-2", "members": [{"value": created["id"]}]},
    )

    assert refused.status_code == 400
    assert (refused.json()["schemas"], refused.json()["scimType"]) == ([ERROR], "mutability")
    assert not Person.objects.exists()
    assert idp.get(f"/Groups/{team.pk}").json()["displayName"] == "vision"


def test_a_members_display_is_accessadmins_and_shown_when_asked(idp, team):
    created = idp.post("/Users", user_body("ada")).json()

    added = idp.patch(
        f"/Groups/{team.pk}",
        {"op": "add", "path": "members",
         "value": [{"value": created["id"], "display": "Someone Else"}]},
    )  # fmt: skip

    assert added.status_code == 200, added.content
    assert [m.get("display") for m in added.json()["members"]] == [None]
    asked = idp.get(f"/Groups/{team.pk}", attributes="members.display").json()
    assert [m["display"] for m in asked["members"]] == ["ada"]


def test_removing_a_member_is_refused_and_they_stay_in_their_team(idp, team, fake):
    created = _member_of(idp, team)

    refused = idp.patch(
        f"/Groups/{team.pk}",
        {"op": "remove", "path": f'members[value eq "{created["id"]}"]'},
    )

    assert refused.status_code == 400
    assert refused.json()["scimType"] == "mutability"
    assert "ada" in refused.json()["detail"]
    assert Person.objects.get(username="ada").status == "active"
    assert not fake.accounts["ada"].disabled
    members = idp.get(f"/Groups/{team.pk}").json()["members"]
    assert [m["value"] for m in members] == [created["id"]]
    assert list(LifecycleRun.objects.values_list("kind", flat=True)) == ["onboard"]


def test_removing_every_member_or_replacing_them_is_refused_as_well(idp, team, other_team):
    created = _member_of(idp, team)
    other = idp.post("/Users", user_body("grace")).json()

    emptied = idp.patch(f"/Groups/{team.pk}", {"op": "remove", "path": "members"})
    replaced = idp.patch(
        f"/Groups/{team.pk}",
        {"op": "replace", "path": "members", "value": [{"value": other["id"]}]},
    )
    left_out = idp.put(f"/Groups/{team.pk}", {"schemas": [GROUP], "displayName": "vision"})

    for answer in (emptied, replaced, left_out):
        assert answer.status_code == 400, answer.content
        assert answer.json()["scimType"] == "mutability"
    assert Person.objects.get(username="ada").team == team
    # The replacement changed nothing: the member it would have added was not onboarded.
    assert not Person.objects.filter(username="grace").exists()
    members = idp.get(f"/Groups/{team.pk}").json()["members"]
    assert [m["value"] for m in members] == [created["id"]]


def test_removing_someone_who_is_no_member_removes_nothing_and_is_no_error(idp, team, other_team):
    created = _member_of(idp, other_team)

    answer = idp.patch(
        f"/Groups/{team.pk}",
        {"op": "remove", "path": f'members[value eq "{created["id"]}"]'},
    )

    assert answer.status_code == 200, answer.content
    assert Person.objects.get(username="ada").team == other_team
