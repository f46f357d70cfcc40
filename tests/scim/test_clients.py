"""The habits of real identity providers: Entra ID's and Okta's provisioning requests, as their
documentation describes them, and the lifecycle's rules that apply to them as to anyone."""

from __future__ import annotations

import pytest

from onboarding.errors import PermanentError
from onboarding.models import AuditEvent, LifecycleRun, Person
from scim.models import ScimUser
from tests.scim.conftest import ENTERPRISE, USER, user_body

pytestmark = pytest.mark.django_db(transaction=True)


def _status(username: str) -> str:
    return Person.objects.get(username=username).status


def _entra_user(user_name: str = "ada@example.org") -> dict:
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": "9f2c1a7e",
        "userName": user_name,
        "active": True,
        "displayName": "Ada Lovelace",
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        ENTERPRISE: {"department": "vision"},
    }


@pytest.fixture
def entra(idp, settings, team):
    settings.SCIM_USERNAME_FROM = "email_local_part"
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    return idp


def test_entra_id_provisioning_cycle(entra, team, other_team, fake):
    # Every sync starts by looking the user up.
    assert entra.get("/Users", filter='userName eq "ada@example.org"').json()["totalResults"] == 0
    created = entra.post("/Users", _entra_user()).json()
    path = f"/Users/{created['id']}"
    assert _status("ada") == "active" and fake.accounts["ada"].team == "vision"

    renamed = entra.patch(
        path,
        {"op": "Replace", "path": "name.familyName", "value": "King"},
        {"op": "Replace", "path": "displayName", "value": "Ada King"},
    )
    assert renamed.status_code == 200, renamed.content
    assert Person.objects.get(username="ada").last_name == "King"

    moved = entra.patch(path, {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "nlp"})
    assert moved.status_code == 200, moved.content
    assert Person.objects.get(username="ada").team == other_team

    # Path-less, with the value as a string, as Entra ID sends a disable.
    disabled = entra.patch(path, {"op": "Replace", "value": {"active": "False"}})
    assert disabled.status_code == 200, disabled.content
    assert disabled.json()["active"] is False
    assert _status("ada") == "offboarded" and fake.accounts["ada"].disabled

    enabled = entra.patch(path, {"op": "Replace", "value": {"active": "True"}})
    assert enabled.status_code == 200, enabled.content
    assert _status("ada") == "active" and not fake.accounts["ada"].disabled

    assert entra.delete(path).status_code == 204
    assert _status("ada") == "offboarded"
    assert entra.get("/Users", filter='userName eq "ada@example.org"').json()["totalResults"] == 0
    kinds = list(LifecycleRun.objects.order_by("created_at").values_list("kind", "actor"))
    assert kinds == [
        ("onboard", "scim:entra"), ("move", "scim:entra"), ("offboard", "scim:entra"),
        ("reinstate", "scim:entra"), ("offboard", "scim:entra"),
    ]  # fmt: skip


def test_entra_id_moves_a_member_between_groups_in_either_order(entra, team, other_team):
    created = entra.post("/Users", _entra_user()).json()
    member = [{"value": created["id"]}]
    remove = {"op": "Remove", "path": "members", "value": member}

    # Removed first, they would be in no team: refused, and sent again on Entra's next cycle.
    refused = entra.patch(f"/Groups/{team.pk}", remove)
    added = entra.patch(
        f"/Groups/{other_team.pk}", {"op": "Add", "path": "members", "value": member}
    )
    removed = entra.patch(f"/Groups/{team.pk}", remove)

    assert (refused.status_code, refused.json()["scimType"]) == (400, "mutability")
    assert added.status_code == 200 and removed.status_code == 200, removed.content
    assert Person.objects.get(username="ada").team == other_team


def test_entra_id_excludes_members_when_it_looks_groups_up(entra, team):
    entra.post("/Users", _entra_user())

    found = entra.get(
        "/Groups", filter='displayName eq "vision"', excludedAttributes="members"
    ).json()

    assert found["totalResults"] == 1 and "members" not in found["Resources"][0]


def test_okta_provisioning_cycle_with_put(idp, team, other_team, settings, fake):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    assert (
        idp.get("/Users", filter='userName eq "ada"', startIndex=1, count=100).json()["Resources"]
        == []
    )
    created = idp.post("/Users", user_body("ada", department="vision")).json()
    path = f"/Users/{created['id']}"

    def put(**changes) -> dict:
        current = idp.get(path).json()
        answer = idp.put(path, {**current, **changes})
        assert answer.status_code == 200, answer.content
        return answer.json()

    put(name={"givenName": "Ada", "familyName": "King"})
    assert Person.objects.get(username="ada").last_name == "King"
    put(**{ENTERPRISE: {"department": "nlp"}})
    assert Person.objects.get(username="ada").team == other_team
    assert put(active=False)["active"] is False
    assert _status("ada") == "offboarded"
    assert put(active=True)["active"] is True
    assert _status("ada") == "active"
    assert fake.accounts["ada"].team == "nlp"


def test_offboarding_is_never_held_back_by_the_request_limit(idp, team, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 1
    first = idp.post("/Users", user_body("ada", department="vision")).json()

    limited = idp.post("/Users", user_body("grace", department="vision"))
    off = idp.patch(f"/Users/{first['id']}", {"op": "replace", "path": "active", "value": False})

    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert not ScimUser.objects.filter(username="grace").exists()
    assert off.status_code == 200
    assert _status("ada") == "offboarded"


def test_a_request_while_a_run_holds_the_person_is_a_conflict_that_changes_nothing(
    idp, team, settings, fake
):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    created = idp.post("/Users", user_body("ada", department="vision")).json()
    person = Person.objects.get(username="ada")
    Person.objects.filter(pk=person.pk).update(status=Person.Status.MOVING)

    answer = idp.patch(
        f"/Users/{created['id']}", {"op": "replace", "path": "name.givenName", "value": "Augusta"}
    )

    assert answer.status_code == 409
    assert "run in progress" in answer.json()["detail"]
    assert Person.objects.get(username="ada").first_name == "Ada"


def test_a_user_waiting_for_a_team_is_shown_and_audited(idp, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"

    created = idp.post("/Users", user_body("ada", department="no-such-team")).json()

    assert created["active"] is True
    event = AuditEvent.objects.get(action="scim.user_waiting")
    assert (event.actor, event.target) == ("scim:entra", "ada")
    assert not Person.objects.exists()


def test_a_user_created_inactive_is_not_onboarded_until_activated(idp, team, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    created = idp.post("/Users", user_body("ada", department="vision", active=False)).json()

    assert created["active"] is False and not Person.objects.exists()

    idp.patch(f"/Users/{created['id']}", {"op": "replace", "path": "active", "value": True})

    assert _status("ada") == "active"


def test_entra_id_sets_the_manager_by_id(entra, team):
    manager = entra.post("/Users", _entra_user("grace@example.org")).json()
    created = entra.post("/Users", _entra_user()).json()

    answer = entra.patch(
        f"/Users/{created['id']}",
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager["id"]},
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()[ENTERPRISE]["manager"]["value"] == manager["id"]
    assert not LifecycleRun.objects.exclude(kind="onboard").exists()


def test_a_person_whose_onboarding_failed_is_still_offboarded_when_deactivated(
    idp, team, settings, fake
):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    fake.fail("account_create", PermanentError("fake", "refused"))
    created = idp.post("/Users", user_body("ada", department="vision")).json()
    assert LifecycleRun.objects.get().state == "failed"
    assert _status("ada") == "onboarding"

    answer = idp.patch(
        f"/Users/{created['id']}", {"op": "replace", "path": "active", "value": False}
    )

    assert answer.status_code == 200, answer.content
    assert _status("ada") in ("offboarding", "offboarded")
    assert LifecycleRun.objects.filter(kind="offboard", actor="scim:entra").exists()
