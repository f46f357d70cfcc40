"""manage.py as scripts see it: clear messages, distinct exit codes, bad input changes nothing."""

import json

import pytest
from django.core.management import CommandError, call_command

from onboarding.models import AuditEvent, LifecycleRun, Person, Team
from tests.factories import make_run

pytestmark = pytest.mark.django_db(transaction=True)


def state_counts() -> tuple[int, int, int, int]:
    return (
        Person.objects.count(),
        LifecycleRun.objects.count(),
        AuditEvent.objects.count(),
        Team.objects.count(),
    )


def onboard_args(username: str, team: str, *extra: str) -> list[str]:
    return [
        "onboard", username, "--first-name", "Ada", "--last-name", "Example",
        "--email", f"{username}@example.test", "--team", team, *extra,
    ]  # fmt: skip


def refused(*args: str) -> CommandError:
    before = state_counts()
    with pytest.raises(CommandError) as refusal:
        call_command(*args)
    assert state_counts() == before, "a refused command changed something"
    return refusal.value


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("bad/slash", "may only include letters, numbers, _, - and ."),
        ("has space", "may only include letters, numbers, _, - and ."),
        ("12345", "is all digits"),
        ("machine$", "ends with '$'"),
        ("a" * 33, "FreeIPA allows at most 32"),
    ],
)
def test_onboarding_an_invalid_username_is_refused(stack_configured, team, username, message):
    error = refused(*onboard_args(username, team.name))
    assert error.returncode == 2
    assert message in str(error)


def test_onboarding_a_name_taken_in_freeipa_is_refused(stack_configured, ipa, team, username):
    ipa.freeipa.user_create(
        username=username, first_name="Other", last_name="Person",
        email="other@example.test", password="Taken-already-1",
    )  # fmt: skip
    error = refused(*onboard_args(username.upper(), team.name))
    assert error.returncode == 2
    assert f"The username {username!r} is taken in FreeIPA already." in str(error)


def test_onboarding_into_an_unknown_team_is_refused(stack_configured, team, username):
    error = refused(*onboard_args(username, "no-such-team"))
    assert error.returncode == 2
    assert "There is no team 'no-such-team'" in str(error)


def test_onboarding_with_a_bad_email_is_refused(stack_configured, team, username):
    error = refused(
        "onboard", username, "--first-name", "A", "--last-name", "B",
        "--email", "not-an-address", "--team", team.name,
    )  # fmt: skip
    assert error.returncode == 2
    assert "'not-an-address' is not a valid email address." in str(error)


def test_offboarding_someone_never_onboarded_is_refused(stack_configured, username):
    error = refused("offboard", username, "--reason", "left")
    assert error.returncode == 2
    assert f"AccessAdmin knows no person {username!r}." in str(error)


def test_offboarding_needs_a_reason(stack_configured, eager, team, username):
    call_command(*onboard_args(username, team.name))
    error = refused("offboard", username, "--reason", "  ")
    assert error.returncode == 2
    assert "A reason is required" in str(error)


def test_a_second_run_while_one_is_in_progress_is_refused(stack_configured, team, username):
    person = Person.objects.create(
        username=username, first_name="A", last_name="B", email="a@example.test", team=team,
        status=Person.Status.ACTIVE,
    )  # fmt: skip
    make_run(person, kind=LifecycleRun.Kind.MOVE)
    error = refused("offboard", username, "--reason", "left")
    assert error.returncode == 3
    assert "is already being moved to another team" in str(error)


def test_onboard_dry_run_lists_the_changes_and_makes_none(
    stack_configured, ipa, team, username, capsys
):
    before = state_counts()
    call_command(*onboard_args(username, team.name, "--dry-run"))
    output = capsys.readouterr().out
    assert f"Onboarding {username} would:" in output
    assert output.count("would change") == 6
    assert state_counts() == before
    assert ipa.freeipa.user_find(username=username) is None


def test_onboard_wait_prints_the_steps_and_status_reports_them(
    stack_configured, eager, team, username, capsys
):
    call_command(*onboard_args(username, team.name, "--wait"))
    output = capsys.readouterr().out
    assert "succeeded" in output
    assert "run_credentials_reveal" in output
    call_command("lifecycle_status", username, "--json")
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "active"
    assert row["run"]["state"] == "succeeded"
    assert [step["state"] for step in row["run"]["steps"]] == ["done"] * 6


def test_team_set_creates_the_freeipa_group_and_refuses_a_bad_policy(stack_configured, ipa):
    from tests.lifecycle.conftest import unique

    name = unique("team-")
    call_command("team_set", name, "--group", name, "--jupyterhub-group", name)
    assert Team.objects.get(name=name).freeipa_group == name
    assert ipa.freeipa.group_find(name=name) is not None
    error = refused("team_set", name, "--policy-arn", "not-an-arn")
    assert error.returncode == 2
    assert "'not-an-arn' is not an IAM policy ARN." in str(error)


def test_verify_audit_reports_an_intact_chain_then_the_first_edited_event(
    stack_configured, eager, team, username, capsys
):
    from django.db import connection, transaction

    call_command(*onboard_args(username, team.name))
    call_command("audit_verify")
    assert "Audit trail intact" in capsys.readouterr().out
    edited = AuditEvent.objects.order_by("id")[3]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE onboarding_auditevent SET details = '{}' WHERE id = %s", [edited.id])
    with pytest.raises(CommandError, match=f"Audit trail broken at event #{edited.id}"):
        call_command("audit_verify")
