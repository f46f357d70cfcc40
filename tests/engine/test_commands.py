"""manage.py against the fake system: dry runs change nothing, and every outcome has its exit
code (0 done, 1 a run failed or a system refused, 2 bad input, 3 a run in progress)."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import PermanentError
from onboarding.models import AuditEvent, LifecycleRun, Person
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)

State = LifecycleRun.State


def refused(*args) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call_command(*args)
    return caught.value


def counts() -> tuple[int, int, int]:
    return (Person.objects.count(), LifecycleRun.objects.count(), AuditEvent.objects.count())


def test_onboard_dry_run_asks_only_and_lists_every_step(fake, team, capsys):
    before = counts()
    call_command(
        "person_onboard", "ada", "--first-name", "Ada", "--last-name", "L",
        "--email", "a@example.test", "--team", team.name, "--dry-run",
    )  # fmt: skip
    output = capsys.readouterr().out
    assert "Onboarding ada would:" in output
    for step in ("fake_account", "fake_key", "fake_team"):
        assert step in output
    assert counts() == before
    assert fake.accounts == {}
    assert set(fake.calls) == {"account_find"}


def test_bad_input_exits_2_and_changes_nothing(fake, team):
    before = counts()
    error = refused(
        "onboard", "ada", "--first-name", "Ada", "--last-name", "L", "--email", "a@example.test",
        "--team", "no-such-team",
    )  # fmt: skip
    assert error.returncode == 2
    assert "There is no team 'no-such-team'" in str(error)
    error = refused("offboard", "nobody", "--reason", "left")
    assert (error.returncode, str(error)) == (2, "AccessAdmin knows no person 'nobody'.")
    assert counts() == before


def test_a_username_taken_in_the_system_is_refused_before_anything_is_made(fake, team):
    fake.account_create("taken", "other")
    before = counts()
    error = refused(
        "onboard", "Taken", "--first-name", "T", "--last-name", "L", "--email", "t@example.test",
        "--team", team.name,
    )  # fmt: skip
    assert error.returncode == 2
    assert "taken in the fake directory" in str(error)
    assert counts() == before


def test_resume_dry_run_shows_what_is_left_and_does_not_resume(fake, team, capsys):
    fake.fail("account_set", PermanentError("fake", "refused"))
    run = onboard("bea", team)
    assert run.state == State.FAILED
    call_command("run_resume", str(run.pk), "--dry-run")
    output = capsys.readouterr().out
    assert f"Resuming run #{run.pk} (onboard bea) would:" in output
    assert "fake_account" in output and "already done" in output
    assert "fake_key" in output and "would change" in output
    run.refresh_from_db()
    assert run.state == State.FAILED
    assert not AuditEvent.objects.filter(action="onboard.resume").exists()


def test_rollback_dry_run_lists_the_undos_newest_first_and_changes_nothing(fake, team, capsys):
    fake.fail("account_set", PermanentError("fake", "refused"))
    run = onboard("cai", team)
    call_command("run_rollback", str(run.pk), "--dry-run")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["fake_key", "fake_account"]
    run.refresh_from_db()
    assert run.state == State.FAILED
    assert "cai" in fake.accounts


def test_a_rollback_that_stops_exits_1_not_2(fake, team):
    fake.fail("account_set", PermanentError("fake", "refused"))
    run = onboard("dan", team)
    fake.fail("account_delete", PermanentError("fake", "locked"))
    error = refused("rollback", str(run.pk), "--wait", "--timeout", "30")
    assert error.returncode == 1
    assert "Rollback stopped: rollback stopped at fake_account: fake: locked" in str(error)


def test_resume_of_a_run_that_is_not_failed_exits_2(fake, team):
    run = onboard("eve", team)
    error = refused("resume", str(run.pk))
    assert error.returncode == 2
    assert refused("resume", "999999").returncode == 2


def test_a_failed_run_exits_1_with_how_to_go_on(fake, team):
    fake.fail("account_create", PermanentError("fake", "refused"))
    error = refused(
        "onboard", "fay", "--first-name", "F", "--last-name", "L", "--email", "f@example.test",
        "--team", team.name, "--wait", "--timeout", "30",
    )  # fmt: skip
    assert error.returncode == 1
    run = LifecycleRun.objects.get(person__username="fay")
    assert f"manage.py run_resume {run.pk}" in str(error)


def test_offboard_while_a_run_is_in_progress_exits_3(fake, team):
    fake.fail("account_set", PermanentError("fake", "refused"))
    run = onboard("gus", team)
    LifecycleRun.objects.filter(pk=run.pk).update(state=State.RUNNING)
    assert refused("offboard", "gus", "--reason", "left").returncode == 3


def test_preflight_says_each_system_is_reachable(fake, capsys):
    call_command("preflight")
    out = capsys.readouterr().out
    assert "\nFake directory: ok, service account: service account fake-admin\n" in out
    assert out.endswith("Preflight passed: a run could succeed.\n")


def test_preflight_names_what_is_wrong_and_exits_1(fake, settings, capsys):
    settings.FAKE_SETTINGS_PROBLEMS = ["FAKE_URL is not set"]
    error = refused("preflight")
    assert error.returncode == 1
    assert "\nFake directory: FAILED, settings: FAKE_URL is not set\n" in capsys.readouterr().out
    settings.FAKE_SETTINGS_PROBLEMS = []
    fake.reachable = False
    assert refused("preflight").returncode == 1
    assert "cannot reach the fake directory" in capsys.readouterr().out


def test_inventory_lists_what_each_system_holds_and_whose_it_is(fake, team, capsys):
    onboard("hal", team)
    call_command("inventory", "--json")
    assert json.loads(capsys.readouterr().out) == [
        {"system": "fake", "kind": "account", "id": "hal", "username": "hal",
         "detail": "team vision", "compared": {"team": "vision", "keys": "1"}},
    ]  # fmt: skip
    assert refused("inventory", "--system", "gitlab").returncode == 2


def test_plans_prints_the_stages_with_the_systems_steps(fake, capsys):
    call_command("plans")
    output = capsys.readouterr().out
    assert "onboard:\n  account:" in output
    assert "    fake_account" in output
    assert "offboard:" in output and "    fake_disable" in output


def test_a_run_known_to_fail_half_way_for_the_team_is_refused_before_it_starts(
    fake, team, other_team, settings, capsys
):
    settings.FAKE_TEAM_PROBLEMS = {"nlp": "team nlp has 12 IAM policies; a role may hold 10"}
    error = refused("onboard", "ivy", "--first-name", "Ivy", "--last-name", "Example",
                    "--email", "ivy@example.test", "--team", "nlp")  # fmt: skip
    assert error.returncode == 2
    assert "team nlp has 12 IAM policies; a role may hold 10; no run was started." in str(error)
    assert not Person.objects.filter(username="ivy").exists()
    assert fake.calls["account_create"] == 0
    onboard("ivy", team)
    assert refused("move", "ivy", "--team", "nlp").returncode == 2
    assert person("ivy").team == team


# Commands are named as the services they call, noun first; scripts written for the old names
# still work.
RENAMED_COMMANDS = {
    "onboard": "person_onboard", "offboard": "person_offboard", "move": "person_move",
    "reinstate": "person_reinstate", "reset_credentials": "person_credentials_reset",
    "reveal_credentials": "run_credentials_reveal", "resume": "run_resume",
    "rollback": "run_rollback", "requeue": "run_requeue", "onboard_csv": "people_onboard_csv",
    "person_dates": "person_dates_set", "team_apply": "team_members_apply",
    "verify_audit": "audit_verify",
}  # fmt: skip


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED_COMMANDS.items()))
def test_an_old_command_name_runs_the_renamed_command(old, new):
    from django.core.management import load_command_class

    renamed = load_command_class("onboarding", new)
    alias = load_command_class("onboarding", old)
    assert isinstance(alias, type(renamed))
    assert alias.help.startswith(f"Old name of {new}.")
