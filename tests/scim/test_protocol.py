"""RFC 7644 as a client meets it: discovery, filters, pages, attributes, versions and errors."""

from __future__ import annotations

import pytest

from onboarding.models import AuditEvent, LifecycleRun, Person
from scim.models import ScimUser
from tests.scim.conftest import ENTERPRISE, ERROR, USER, user_body

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def _users(idp, *names: str) -> list[dict]:
    return [idp.post("/Users", user_body(name)).json() for name in names]


def _names(answer) -> list[str]:
    assert answer.status_code == 200, answer.content
    return [user["userName"] for user in answer.json()["Resources"]]


def test_discovery_describes_users_with_the_enterprise_extension_and_groups(idp):
    config = idp.get("/ServiceProviderConfig").json()
    types = idp.get("/ResourceTypes").json()
    schemas = idp.get("/Schemas").json()

    assert config["patch"]["supported"] and config["filter"]["supported"]
    assert config["etag"]["supported"] and not config["bulk"]["supported"]
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert {t["id"]: t["endpoint"] for t in types["Resources"]} == {
        "User": "/Users", "Group": "/Groups",
    }  # fmt: skip
    user_type = idp.get("/ResourceTypes/User").json()
    assert user_type["schemaExtensions"][0]["schema"] == ENTERPRISE
    assert types["schemas"] == [LIST] and schemas["totalResults"] == 3
    assert idp.get(f"/Schemas/{USER}").json()["name"] == "User"
    assert idp.get("/Schemas/urn:nothing").status_code == 404


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "grace"', ["grace"]),
        ('userName sw "a"', ["ada", "alan"]),
        ('userName co "LA"', ["alan"]),
        ('externalId eq "ext-ada"', ["ada"]),
        ('emails.value eq "grace@example.org"', ["grace"]),
        ('emails[type eq "work"].value eq "grace@example.org"', None),
        ('displayName eq "Ada Lovelace"', ["ada", "alan", "grace"]),
        ("externalId pr", ["ada", "alan", "grace"]),
        ('userName eq "ada" or userName eq "grace"', ["ada", "grace"]),
        ('userName sw "a" and not (userName eq "ada")', ["alan"]),
        ("active eq true", ["ada", "alan", "grace"]),
        ("active eq false", []),
    ],
)
def test_filters(idp, text, expected):
    _users(idp, "ada", "alan", "grace")

    answer = idp.get("/Users", filter=text)

    if expected is None:
        assert answer.status_code == 400
        assert answer.json()["scimType"] == "invalidFilter"
    else:
        assert sorted(_names(answer)) == expected


@pytest.mark.parametrize(
    "text", ["userName eq", 'userName zz "a"', "((", 'nickName eq "x"', 'userName eq "a" and x pr']
)
def test_a_bad_filter_is_an_invalid_filter_error(idp, text):
    _users(idp, "ada")

    answer = idp.get("/Users", filter=text)

    assert answer.status_code == 400
    assert answer.json()["schemas"] == [ERROR]
    assert answer.json()["scimType"] == "invalidFilter"


def test_pages_by_start_index_and_count(idp):
    _users(idp, "ada", "alan", "grace", "hedy")

    page = idp.get("/Users", startIndex=2, count=2).json()

    assert page["totalResults"] == 4 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [u["userName"] for u in page["Resources"]] == ["alan", "grace"]
    assert idp.get("/Users", count=0).json()["Resources"] == []
    assert idp.get("/Users", startIndex=0, count=-1).json()["startIndex"] == 1
    assert idp.get("/Users", startIndex=9).json()["totalResults"] == 4
    assert idp.get("/Users", count="many").status_code == 400


def test_attributes_and_excluded_attributes(idp):
    _users(idp, "ada")

    only = idp.get("/Users", attributes="userName").json()["Resources"][0]
    without = idp.get("/Users", excludedAttributes="emails,name").json()["Resources"][0]

    assert set(only) == {"schemas", "id", "userName"}
    assert "emails" not in without and "name" not in without and without["userName"] == "ada"


def test_versions_answer_conditional_requests(idp, team):
    (created,) = _users(idp, "ada")
    path = f"/Users/{created['id']}"
    version = idp.get(path)["ETag"]

    assert idp.get(path, headers={"If-None-Match": version}).status_code == 304
    stale = idp.patch(
        path, {"op": "replace", "path": "externalId", "value": "new"},
        headers={"If-Match": 'W/"old"'},
    )  # fmt: skip
    assert stale.status_code == 412
    assert ScimUser.objects.get().external_id == "ext-ada"
    fresh = idp.patch(
        path, {"op": "replace", "path": "externalId", "value": "new"},
        headers={"If-Match": version},
    )  # fmt: skip
    assert fresh.status_code == 200
    assert fresh["ETag"] != version
    event = AuditEvent.objects.get(action="scim.user_update")
    assert (event.actor, event.details["externalId"]) == (
        "scim:entra", {"before": "ext-ada", "after": "new"},
    )  # fmt: skip


def test_unknown_resources_are_404_with_a_scim_error(idp):
    for path in ("/Users/not-an-id", "/Users/7c2d9f8e-3f1e-4d0c-9d55-0a7d1e6d1a11", "/Groups/9"):
        answer = idp.get(path)
        assert answer.status_code == 404
        assert answer.json()["schemas"] == [ERROR]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"schemas": [USER]}, "userName"),
        (user_body("ada", name={"givenName": "Ada"}), "familyName"),
        (user_body("ada", emails=[]), "emails"),
        (user_body("ada", emails=[{"value": "not an address"}]), "emails"),
        (user_body("ada", name={"givenName": "A\nda", "familyName": "L"}), "line break"),
        (user_body("-" * 40), "32"),
        (user_body("admin"), "reserved"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(idp, body, words):
    answer = idp.post("/Users", body)

    assert answer.status_code == 400, answer.content
    assert answer.json()["schemas"] == [ERROR]
    assert words in answer.json()["detail"]
    assert not ScimUser.objects.exists() and not Person.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith=("scim.")).exists()


def test_a_body_that_is_no_json_is_refused(idp):
    answer = idp.client.post("/scim/v2/Users", "{nope", content_type="application/scim+json")

    assert answer.status_code == 400
    assert answer.json()["scimType"] == "invalidValue"


def test_a_second_user_with_the_same_username_is_a_uniqueness_conflict(idp):
    _users(idp, "ada")

    answer = idp.post("/Users", user_body("ADA"))

    assert answer.status_code == 409
    assert answer.json()["scimType"] == "uniqueness"
    assert ScimUser.objects.count() == 1


def test_a_person_known_to_accessadmin_otherwise_is_not_taken_over(idp, team):
    Person.objects.create(
        username="ada", first_name="A", last_name="L", email="a@example.org", team=team
    )

    answer = idp.post("/Users", user_body("ada"))

    assert answer.status_code == 409
    assert "not through SCIM" in answer.json()["detail"]
    assert not ScimUser.objects.exists()


def test_a_waiting_user_may_change_username_until_onboarded(idp, team, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    (created,) = _users(idp, "ada")

    renamed = idp.patch(
        f"/Users/{created['id']}", {"op": "replace", "path": "userName", "value": "ada2"}
    )

    assert renamed.status_code == 200, renamed.content
    assert ScimUser.objects.get().username == "ada2"


def test_a_username_never_changes_once_onboarded(idp, team, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    created = idp.post("/Users", user_body("ada", department="vision")).json()

    answer = idp.patch(
        f"/Users/{created['id']}", {"op": "replace", "path": "userName", "value": "ada2"}
    )

    assert answer.status_code == 400
    assert answer.json()["scimType"] == "mutability"
    assert ScimUser.objects.get().user_name == "ada"


def test_a_bad_patch_changes_nothing(idp, team):
    (created,) = _users(idp, "ada")
    path = f"/Users/{created['id']}"

    unknown_op = idp.patch(path, {"op": "Merge", "path": "active", "value": False})
    bad_path = idp.patch(path, {"op": "replace", "path": "nosuch", "value": 1})
    no_operations = idp.send("patch", path, {"schemas": [], "Operations": []})

    assert [a.status_code for a in (unknown_op, bad_path, no_operations)] == [400, 400, 400]
    assert idp.get(path).json() == {**created, "meta": idp.get(path).json()["meta"]}
    assert not LifecycleRun.objects.exists()


def test_methods_not_served_are_405(idp):
    answer = idp.send("delete", "/Users")

    assert answer.status_code == 405
    assert answer.json()["schemas"] == [ERROR]


def test_deleting_a_team_is_refused(idp, team):
    answer = idp.delete(f"/Groups/{team.pk}")

    assert answer.status_code == 403
    assert answer.json()["schemas"] == [ERROR]
    assert idp.get(f"/Groups/{team.pk}").status_code == 200


def test_a_group_cannot_be_renamed(idp, team):
    answer = idp.patch(
        f"/Groups/{team.pk}", {"op": "replace", "path": "displayName", "value": "vision-2"}
    )

    assert answer.status_code == 400
    assert answer.json()["scimType"] == "mutability"


def test_adding_an_unknown_member_changes_nothing(idp, team):
    (created,) = _users(idp, "ada")

    answer = idp.patch(
        f"/Groups/{team.pk}",
        {"op": "add", "path": "members", "value": [{"value": created["id"]}, {"value": "nobody"}]},
    )

    assert answer.status_code == 400
    assert "nobody" in answer.json()["detail"]
    assert not Person.objects.exists()


def test_attributes_accessadmin_does_not_use_are_kept_as_sent(idp, team, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    body = user_body("ada", department="vision", title="Analyst", phoneNumbers=[{"value": "1"}])
    created = idp.post("/Users", body).json()

    patched = idp.patch(
        f"/Users/{created['id']}", {"op": "replace", "path": "title", "value": "Lead analyst"}
    ).json()

    assert created["phoneNumbers"] == [{"value": "1"}]
    assert patched["title"] == "Lead analyst"
    assert not LifecycleRun.objects.exclude(kind="onboard").exists()


def test_what_accessadmin_holds_wins_over_what_was_sent(idp, team, settings):
    settings.SCIM_TEAM_ATTRIBUTE = "department"
    created = idp.post("/Users", user_body("ada", department="vision")).json()
    Person.objects.filter(username="ada").update(last_name="Byron")

    shown = idp.get(f"/Users/{created['id']}").json()

    assert shown["name"]["familyName"] == "Byron"
    assert shown["meta"]["version"] != created["meta"]["version"]


def test_search_by_post_and_unknown_endpoints_answer_scim_errors(idp):
    search = idp.post(
        "/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
    )
    users_search = idp.post("/Users/.search", {})
    unknown = idp.get("/Nothing/here")

    assert (search.status_code, users_search.status_code, unknown.status_code) == (501, 501, 404)
    assert {a.json()["schemas"][0] for a in (search, users_search, unknown)} == {ERROR}
