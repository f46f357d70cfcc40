"""Reinstating asks why, and may bring a person back into another team: the team is theirs before
the run starts, the request's audit says from and to which, and an undone run puts them back."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import InvalidInput, PermanentError
from onboarding.models import AuditEvent, LifecycleRun, Person
from onboarding.services import person_offboard, person_reinstate, run_rollback
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)

State = LifecycleRun.State


@pytest.fixture
def offboarded(fake, team) -> Person:
    onboard("kim", team)
    person_offboard(person=person("kim"), reason="left", actor="admin")
    return person("kim")


def reinstate_runs() -> int:
    return LifecycleRun.objects.filter(kind="reinstate").count()


@pytest.mark.parametrize("reason", ["", "   "])
def test_reinstating_without_a_reason_is_refused_and_changes_nothing(offboarded, reason):
    with pytest.raises(InvalidInput, match="A reason is required to reinstate someone"):
        person_reinstate(person=offboarded, reason=reason, actor="admin")
    assert person("kim").status == Person.Status.OFFBOARDED
    assert reinstate_runs() == 0
    assert not AuditEvent.objects.filter(action="reinstate.request").exists()


def test_a_person_comes_back_into_another_team_and_the_request_says_from_and_to_which(
    fake, offboarded, team, other_team
):
    run = person_reinstate(person=offboarded, reason="rehired", team=other_team, actor="admin")
    run.refresh_from_db()

    assert run.state == State.SUCCEEDED, run.error
    assert (person("kim").team, person("kim").status) == (other_team, Person.Status.ACTIVE)
    assert (fake.accounts["kim"].team, fake.accounts["kim"].disabled) == ("nlp", False)
    request = AuditEvent.objects.get(action="reinstate.request", target="kim")
    assert request.details == {
        "run": run.pk, "reason": "rehired", "from_team": "vision", "to_team": "nlp",
    }  # fmt: skip


def test_a_team_a_system_knows_would_fail_is_refused_and_the_person_stays_where_they_were(
    offboarded, team, other_team, settings
):
    settings.FAKE_TEAM_PROBLEMS = {"nlp": "nlp has more policies than a role may hold"}
    with pytest.raises(InvalidInput, match="more policies than a role may hold"):
        person_reinstate(person=offboarded, reason="rehired", team=other_team, actor="admin")
    assert offboarded.team == team
    assert (person("kim").team, reinstate_runs()) == (team, 0)


def test_an_undone_reinstatement_leaves_the_person_offboarded_in_the_team_they_left(
    fake, offboarded, team, other_team
):
    fake.fail("account_set", PermanentError("fake", "the account is locked"))
    run = person_reinstate(person=offboarded, reason="rehired", team=other_team, actor="admin")
    run.refresh_from_db()
    assert run.state == State.FAILED
    assert person("kim").team == other_team

    run_rollback(run=run, actor="admin")
    run.refresh_from_db()

    assert run.state == State.ROLLED_BACK, run.error
    assert (person("kim").team, person("kim").status) == (team, Person.Status.OFFBOARDED)


def test_the_command_previews_the_chosen_team_and_refuses_an_empty_reason_with_exit_2(
    fake, offboarded, other_team, capsys
):
    call_command("person_reinstate", "kim", "--reason", "rehired", "--team", "nlp", "--dry-run")
    output = capsys.readouterr().out
    assert "Reinstating kim into team nlp would:" in output
    assert "fake_team" in output and "would change" in output
    assert (person("kim").team.name, reinstate_runs()) == ("vision", 0)

    with pytest.raises(CommandError) as refused:
        call_command("person_reinstate", "kim", "--reason", " ", "--team", "nlp")
    assert refused.value.returncode == 2
    assert (person("kim").team.name, reinstate_runs()) == ("vision", 0)

    call_command("person_reinstate", "kim", "--reason", "rehired", "--team", "nlp")
    assert (person("kim").team.name, person("kim").status) == ("nlp", Person.Status.ACTIVE)
