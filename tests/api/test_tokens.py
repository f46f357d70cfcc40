"""manage.py api_token, and what the API answers to no token, a wrong one, an expired or a
revoked one."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from api.models import ApiToken
from api.services import token_hash
from onboarding.models import AuditEvent
from tests.api.conftest import Caller, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def api_token(*args: str) -> str:
    out = StringIO()
    call_command("api_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_token_is_printed_once_and_only_its_hash_is_kept(team):
    secret = api_token("create", "vision-sync", "--role", "lead", "--team", "vision").strip()
    token = ApiToken.objects.get(name="vision-sync")
    assert secret.startswith(token.prefix)
    assert token.token_hash == token_hash(secret) != secret
    assert (token.role, token.team, token.created_by.startswith("cli:")) == ("lead", team, True)
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)
    listed = api_token("list")
    assert "vision-sync" in listed and token.prefix in listed and secret not in listed
    assert AuditEvent.objects.filter(action="api_token.create", target="vision-sync").exists()


def test_a_lead_token_needs_a_team_and_names_are_never_reused(team):
    with pytest.raises(CommandError, match="name it") as refused:
        api_token("create", "no-team", "--role", "lead")
    assert refused.value.returncode == 2
    api_token("create", "hr", "--role", "admin", "--expires-days", "7")
    api_token("revoke", "hr")
    with pytest.raises(CommandError, match="named 'hr' already"):
        api_token("create", "hr", "--role", "admin")
    assert ApiToken.objects.count() == 1


def test_requests_without_a_valid_token_get_401_and_nothing(fake):
    for caller in (Caller(), Caller("aa_not-a-token")):
        answer = caller.get("/people")
        assert answer.status_code == 401
        assert answer["WWW-Authenticate"].startswith("Bearer")
        assert "token" in answer.json()["error"]
    session_only = Caller()
    session_only.client.cookies["sessionid"] = "anything"
    assert session_only.post("/onboardings", {}).status_code == 401


def test_a_revoked_or_expired_token_stops_working_and_its_use_is_audited(fake):
    revoked, expired = Caller(token_for("old-hr")), Caller(token_for("older-hr"))
    assert revoked.get("/teams").status_code == 200
    api_token("revoke", "old-hr")
    ApiToken.objects.filter(name="older-hr").update(expires_at=timezone.now())
    assert revoked.get("/teams").json() == {
        "error": f"The bearer token {revoked.token[:9]}… is revoked."
    }
    assert expired.get("/teams").status_code == 401
    denied = AuditEvent.objects.filter(action="access.denied").order_by("id")
    assert [(e.actor, e.details["reason"]) for e in denied] == [
        ("api:old-hr", "token revoked"), ("api:older-hr", "token expired"),
    ]  # fmt: skip
    assert ApiToken.objects.get(name="old-hr").last_used_at is not None
