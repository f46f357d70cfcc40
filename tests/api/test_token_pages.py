"""The API tokens page: an admin makes a token (its secret shown once), sees it listed by its
prefix only, and revokes it; bad input makes nothing; nobody else may."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from api.models import ApiToken
from onboarding.directory import DirectoryRights
from onboarding.models import AuditEvent, Team

pytestmark = pytest.mark.django_db

# Local accounts: the directory, not running here, is not asked for their rights.
LOCAL = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def vision(db) -> Team:
    return Team.objects.create(name="vision", freeipa_group="vision")


@pytest.fixture
def admin_browser() -> Client:
    browser = Client()
    browser.force_login(
        get_user_model().objects.create_superuser("root-admin", password="x"), LOCAL
    )
    return browser


def make(browser: Client, **fields):
    return browser.post(
        "/api-tokens/", {"name": "hr-system", "role": "admin", "team": "", "expires_days": "30",
                         "service": "on", **fields},
    )  # fmt: skip


def test_an_admin_makes_a_token_sees_it_once_and_revokes_it(admin_browser, vision):
    made = make(admin_browser)

    assert made.status_code == 200
    assert made["Cache-Control"] == "no-store"
    secret = made.content.decode().split('id="api-token-secret">')[1].split("<")[0]
    token = ApiToken.objects.get(name="hr-system")
    assert secret.startswith(token.prefix) and len(secret) > 40
    listed = admin_browser.get("/api-tokens/").content.decode()
    assert f"{token.prefix}…" in listed and secret not in listed
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/v1/teams").status_code == 200

    revoked = admin_browser.post("/api-tokens/hr-system/revoke/", follow=True)

    assert "is revoked: it works no more" in revoked.content.decode()
    assert api.get("/api/v1/teams").status_code == 401
    actions = AuditEvent.objects.filter(actor="root-admin", target="hr-system")
    assert set(actions.values_list("action", flat=True)) == {"api_token.create", "api_token.revoke"}
    assert not any(secret in repr(event.details) for event in AuditEvent.objects.all())


def test_a_token_owned_by_an_admin_lists_its_owner_last_use_and_expiry(
    admin_browser, vision, monkeypatch
):
    # No directory runs here: ann is in it, enabled, and a platform admin.
    monkeypatch.setattr(
        "onboarding.access.rights_find", lambda username: DirectoryRights(True, False, True, ())
    )
    make(admin_browser, service="", owner="ann")

    token = ApiToken.objects.get(name="hr-system")
    assert token.owner == "ann"
    row = admin_browser.get("/api-tokens/").content.decode().split('id="api-tokens"')[1]
    assert 'data-label="Owner">ann<' in row
    assert f'data-label="Expires">{token.expires_at:%Y-%m-%d %H:%M}<' in row
    assert 'data-label="Last used">never<' in row
    event = AuditEvent.objects.get(action="api_token.create", target="hr-system")
    assert event.details["owner"] == "ann"


def test_a_lead_token_is_made_for_its_team(admin_browser, vision):
    make(admin_browser, name="vision-script", role="lead", team="vision")

    token = ApiToken.objects.get(name="vision-script")
    assert (token.role, token.team) == ("lead", vision)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": "HR System!"}, "lower-case letters, digits"),
        ({"role": "lead"}, "A lead token acts for one team"),
        ({"team": "vision"}, "An admin token acts on every team"),
        ({"role": "owner"}, "Select a valid choice"),
        ({"team": "no-such-team", "role": "lead"}, "Select a valid choice"),
        ({"expires_days": "0"}, "greater than or equal to 1"),
        ({"expires_days": "91"}, "less than or equal to 90"),
        ({"owner": "ann"}, "Name the token&#x27;s owner, or make it a service token"),
        ({"service": ""}, "Name the token&#x27;s owner, or make it a service token"),
        ({"service": "", "owner": "bob"}, "The token cannot be bob&#x27;s: bob is not a platform"),
    ],
)
def test_bad_input_is_named_and_makes_nothing(admin_browser, vision, fields, error, monkeypatch):
    # No directory runs here: bob is in it, enabled, and no admin.
    monkeypatch.setattr(
        "onboarding.access.rights_find", lambda username: DirectoryRights(True, False, False, ())
    )
    page = make(admin_browser, **fields)

    assert page.status_code == 200
    assert error in page.content.decode()
    assert not ApiToken.objects.exists()


def test_a_name_is_never_reused_and_a_revoked_token_is_not_revoked_twice(admin_browser, vision):
    make(admin_browser)
    admin_browser.post("/api-tokens/hr-system/revoke/")

    again = make(admin_browser).content.decode()
    twice = admin_browser.post("/api-tokens/hr-system/revoke/", follow=True).content.decode()
    unknown = admin_browser.post("/api-tokens/nobody/revoke/", follow=True).content.decode()

    assert "There is a token named &#x27;hr-system&#x27; already" in again
    assert ApiToken.objects.count() == 1
    assert "is revoked already" in twice
    assert "There is no token named &#x27;nobody&#x27;" in unknown
    assert admin_browser.get("/api-tokens/hr-system/revoke/").status_code == 405


def test_a_lead_may_neither_see_nor_make_nor_revoke_tokens(admin_browser, vision):
    make(admin_browser)
    lead = get_user_model().objects.create_user("vision-lead", password="x")
    vision.leads.add(lead)
    browser = Client()
    browser.force_login(lead, LOCAL)

    assert browser.get("/api-tokens/").status_code == 403
    assert make(browser, name="lead-made").status_code == 403
    assert browser.post("/api-tokens/hr-system/revoke/").status_code == 403
    assert ApiToken.objects.get(name="hr-system").revoked_at is None
    assert not ApiToken.objects.filter(name="lead-made").exists()
    denied = AuditEvent.objects.filter(actor="vision-lead", action="access.denied")
    assert denied.count() == 3
