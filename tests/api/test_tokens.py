"""manage.py api_token, and what the API answers to no token, a wrong one, an expired or a
revoked one, or one whose owner left or lost the rights it needs.

No directory runs with these tests: `rights_find` answers as the directory would (DIRECTORY)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from api.models import ApiToken
from api.services import token_hash
from onboarding.directory import DirectoryRights
from onboarding.errors import DirectoryUnavailable
from onboarding.models import AuditEvent
from onboarding.services import person_offboard
from tests.api.conftest import Caller, token_for
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)


def api_token(*args: str) -> str:
    out = StringIO()
    call_command("api_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_token_is_printed_once_and_only_its_hash_is_kept(team):
    secret = api_token(
        "create", "vision-sync", "--role", "lead", "--team", "vision", "--service"
    ).strip()
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
        api_token("create", "no-team", "--role", "lead", "--service")
    assert refused.value.returncode == 2
    api_token("create", "hr", "--role", "admin", "--expires-days", "7", "--service")
    api_token("revoke", "hr")
    with pytest.raises(CommandError, match="named 'hr' already"):
        api_token("create", "hr", "--role", "admin", "--service")
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


ADMIN = DirectoryRights(exists=True, disabled=False, is_admin=True, managed_groups=())


@pytest.fixture
def directory(monkeypatch) -> dict:
    """Each account's rights as the directory has them now; the test changes them."""
    accounts = {"ann": ADMIN, "lee": DirectoryRights(True, False, False, ("team-vision",))}

    def rights_find(username: str) -> DirectoryRights:
        if "down" in accounts:
            raise DirectoryUnavailable("the directory did not answer: SERVER_DOWN")
        return accounts.get(username, DirectoryRights(False, False, False, ()))

    monkeypatch.setattr("onboarding.access.rights_find", rights_find)
    return accounts


def owned(name: str, owner: str, *args: str) -> Caller:
    return Caller(api_token("create", name, "--owner", owner, *args).strip())


def test_a_token_needs_an_owner_who_holds_its_role_or_is_a_service_token(team, directory):
    with pytest.raises(CommandError, match="one of the arguments --owner --service is required"):
        api_token("create", "hr", "--role", "admin")
    with pytest.raises(CommandError, match="not allowed with argument --owner"):
        api_token("create", "hr", "--role", "admin", "--owner", "ann", "--service")
    refusals = [
        (("--role", "admin", "--owner", "nobody"), "nobody is disabled or not in the directory"),
        (("--role", "admin", "--owner", "lee"), "lee is not a platform admin"),
        (("--role", "lead", "--team", "vision", "--owner", "sam"), "sam is disabled or not in"),
    ]
    for args, why in refusals:
        with pytest.raises(CommandError, match=why) as refused:
            api_token("create", "hr", *args)
        assert refused.value.returncode == 2
    assert not ApiToken.objects.exists()

    owned("hr", " Ann ", "--role", "admin")
    owned("vision-sync", "lee", "--role", "lead", "--team", "vision")
    listed = api_token("list")
    assert "ann" in listed and "lee" in listed
    assert dict(ApiToken.objects.values_list("name", "owner")) == {
        "hr": "ann",
        "vision-sync": "lee",
    }


def test_a_token_stops_working_on_the_request_after_its_owner_is_offboarded(fake, team, directory):
    onboard("ann", team)
    hr = owned("hr", "ann", "--role", "admin")
    assert hr.get("/teams").status_code == 200

    person_offboard(person=person("ann"), reason="left", actor="cli:test")

    refused = hr.get("/teams")
    assert refused.status_code == 401
    assert refused.json()["error"].endswith("works no more: ann is offboarded.")
    event = AuditEvent.objects.filter(action="access.denied").latest("id")
    assert (event.actor, event.details["reason"]) == ("api:hr", "token owner: ann is offboarded")


def test_a_token_stops_working_once_its_owner_loses_its_rights_in_the_directory(fake, directory):
    hr = owned("hr", "ann", "--role", "admin")
    assert hr.get("/teams").status_code == 200
    # Dropped from the admin group a moment ago: no cache keeps the old rights.
    directory["ann"] = DirectoryRights(True, False, False, ("team-vision",))
    assert hr.get("/teams").status_code == 401
    directory["ann"] = ADMIN
    assert hr.get("/teams").status_code == 200
    directory["ann"] = DirectoryRights(True, True, True, ())
    assert "ann is disabled" in hr.get("/teams").json()["error"]
    directory["ann"], directory["down"] = ADMIN, ADMIN
    assert "rights cannot be confirmed" in hr.get("/teams").json()["error"]


def test_a_token_lives_at_most_api_token_max_days(fake, directory, settings):
    settings.API_TOKEN_MAX_DAYS = 30
    with pytest.raises(CommandError, match="1 to 30 days") as refused:
        api_token("create", "hr", "--role", "admin", "--owner", "ann", "--expires-days", "31")
    assert refused.value.returncode == 2
    hr = owned("hr", "ann", "--role", "admin")
    token = ApiToken.objects.get(name="hr")
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert hr.get("/teams").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert hr.get("/teams").status_code == 401
