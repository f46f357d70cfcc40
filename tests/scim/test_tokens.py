"""SCIM clients hold tokens of their own kind: accepted at /scim/v2/ only, and only there."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from api.models import ApiToken
from api.services import api_token_create
from onboarding.errors import InvalidInput
from onboarding.models import AuditEvent
from tests.scim.conftest import ERROR, IdentityProvider, scim_token_for, user_body

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_scim_token_is_refused_by_the_rest_api(fake):
    secret = scim_token_for("entra")

    answer = Client().get("/api/v1/people", headers={"Authorization": f"Bearer {secret}"})

    assert answer.status_code == 401
    assert "/scim/v2/" in answer.json()["error"]
    assert AuditEvent.objects.filter(actor="scim:entra", action="access.denied").exists()


def test_an_api_token_is_refused_by_scim_and_changes_nothing(fake):
    secret = api_token_create(
        name="hr-system", role="admin", team=None, expires_days=9, owner="", actor="cli:test"
    )[1]

    answer = IdentityProvider(secret).post("/Users", user_body("ada"))

    assert answer.status_code == 401
    assert answer.json()["schemas"] == [ERROR]
    assert "/api/v1/" in answer.json()["detail"]
    assert answer["WWW-Authenticate"].startswith("Bearer")
    assert not AuditEvent.objects.filter(action__startswith="scim.").exists()


@pytest.mark.parametrize("header", ["", "Bearer ", "Basic YWRhOnNlY3JldA==", "Bearer aa_unknown"])
def test_no_token_or_an_unknown_one_is_refused(fake, header):
    client = Client()
    headers = {"Authorization": header} if header else {}

    answer = client.get("/scim/v2/Users", headers=headers)

    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/scim+json"
    assert answer.json()["status"] == "401"


def test_a_revoked_scim_token_is_refused(fake):
    secret = scim_token_for("okta")
    call_command("api_token", "revoke", "okta", stdout=StringIO())

    assert IdentityProvider(secret).get("/Users").status_code == 401


def test_the_command_makes_a_scim_token(fake):
    out, err = StringIO(), StringIO()

    call_command(
        "api_token", "create", "entra-id", "--role", "admin", "--scim", "--service",
        stdout=out, stderr=err,
    )  # fmt: skip

    token = ApiToken.objects.get(name="entra-id")
    assert (token.scope, token.actor) == ("scim", "scim:entra-id")
    assert "SCIM token entra-id" in err.getvalue()
    assert IdentityProvider(out.getvalue().strip()).get("/Users").status_code == 200


def test_a_scim_token_is_an_admin_token(fake, team):
    with pytest.raises(InvalidInput, match="its role is admin"):
        api_token_create(
            name="lead-scim", role="lead", team=team, expires_days=9, owner="", actor="cli:test",
            scope=ApiToken.Scope.SCIM,
        )  # fmt: skip

    assert not ApiToken.objects.filter(name="lead-scim").exists()


def _admin_browser() -> Client:
    browser = Client()
    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    # A local account: the directory, not running here, is not asked for its rights.
    browser.force_login(admin, "django.contrib.auth.backends.ModelBackend")
    return browser


def test_an_admin_makes_a_scim_token_on_the_tokens_page(fake, team):
    browser = _admin_browser()
    fields = {"role": "admin", "team": "", "expires_days": "30", "service": "on", "scim": "on"}

    made = browser.post("/api-tokens/", {"name": "okta", **fields})
    refused = browser.post("/api-tokens/", {**fields, "name": "lead-okta", "role": "lead",
                                            "team": team.name})  # fmt: skip

    assert made.status_code == 200
    secret = made.content.decode().split('id="api-token-secret">')[1].split("<")[0]
    assert ApiToken.objects.get(name="okta").scope == "scim"
    assert IdentityProvider(secret).get("/Users").status_code == 200
    assert "its role is admin" in refused.content.decode()
    assert not ApiToken.objects.filter(name="lead-okta").exists()
    assert "(SCIM only)" in browser.get("/api-tokens/").content.decode()
