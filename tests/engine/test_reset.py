"""Credential reset: an active person's OTP tokens and password issued anew, handed over once to
whoever asked, through the fake system (its secret stands for the password)."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.credentials import credentials_reveal
from onboarding.errors import CredentialsGone, InvalidInput, PermanentError, RunInProgress
from onboarding.models import AuditEvent, LifecycleRun, Person
from onboarding.plans import plan_for
from onboarding.services import person_credentials_reset, person_offboard, run_rollback
from onboarding.systems import systems_reset
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reset_deletes_the_old_tokens_then_makes_a_new_one_then_a_new_password(settings):
    settings.ACCESSADMIN_SYSTEMS = ["freeipa", "efs", "iam", "jupyterhub"]
    systems_reset()
    try:
        plan = plan_for(LifecycleRun.Kind.RESET)
    finally:
        systems_reset()
    assert [step.name for step in plan.steps] == [
        "otp_tokens_removal", "otp_token", "freeipa_credentials",
    ]  # fmt: skip
    assert plan.needs["otp_token"] == {"otp_tokens_removal"}
    assert plan.needs["freeipa_credentials"] == {"otp_tokens_removal", "otp_token"}


def test_a_reset_hands_the_new_secret_once_to_whoever_asked(fake, team):
    onboard("ada", team)
    before = fake.accounts["ada"].secret

    run = person_credentials_reset(person=person("ada"), actor="admin")
    run.refresh_from_db()

    assert run.state == "succeeded"
    assert person("ada").status == "active"
    revealed = credentials_reveal(run=run, actor="admin")
    assert revealed == {"temporary_password": fake.accounts["ada"].secret}
    assert fake.accounts["ada"].secret != before
    with pytest.raises(CredentialsGone):
        credentials_reveal(run=run, actor="admin")
    assert AuditEvent.objects.filter(action="reset.request", target="ada", actor="admin").exists()


def test_only_an_active_person_without_a_run_under_way_is_reset(fake, team):
    onboard("bo", team)
    person_offboard(person=person("bo"), reason="left", actor="admin")
    with pytest.raises(InvalidInput):
        person_credentials_reset(person=person("bo"), actor="admin")

    onboard("cy", team)
    LifecycleRun.objects.create(person=person("cy"), kind="repair", state="running", actor="a")
    with pytest.raises(RunInProgress):
        person_credentials_reset(person=person("cy"), actor="admin")
    assert not LifecycleRun.objects.filter(kind="reset").exists()


def test_a_failed_reset_is_resumed_not_rolled_back(fake, team):
    onboard("di", team)
    fake.fail("account_set", PermanentError("fake", "refused"))
    run = person_credentials_reset(person=person("di"), actor="admin")
    run.refresh_from_db()
    assert run.state == "failed"
    with pytest.raises(InvalidInput, match="cannot come back"):
        run_rollback(run=run, actor="admin")


def test_reset_credentials_command_waits_and_says_how_to_reveal(fake, team, capsys):
    onboard("ed", team)
    call_command("person_credentials_reset", "ed", "--wait")
    out = capsys.readouterr().out
    run = LifecycleRun.objects.get(kind="reset", person__username="ed")
    assert f"Run #{run.pk} succeeded." in out
    assert f"run_credentials_reveal {run.pk}" in out
    Person.objects.filter(username="ed").update(status="offboarded")
    with pytest.raises(CommandError):
        call_command("person_credentials_reset", "ed")
