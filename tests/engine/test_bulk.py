"""Onboarding many people from one CSV file: every row is checked first, and one bad row refuses
the whole file with each problem and its row, before anything is created."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import FileRefused, TooManyRequests
from onboarding.models import AuditEvent, LifecycleRun, Person
from onboarding.services import people_onboard_csv
from tests.engine.conftest import onboard

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "username,first_name,last_name,email,team\n"


def counts() -> tuple[int, int, int]:
    return (Person.objects.count(), LifecycleRun.objects.count(), AuditEvent.objects.count())


def refused(text: str, **kwargs) -> list[str]:
    before = counts()
    with pytest.raises(FileRefused) as caught:
        people_onboard_csv(text=text, actor="admin", **kwargs)
    assert counts() == before
    return caught.value.problems


def test_everyone_in_the_file_is_onboarded(fake, team, other_team):
    text = "\ufeff" + HEADER + "ada,Ada,L,ada@example.test,vision\nbob,Bob,K,bob@example.test,nlp\n"
    runs = people_onboard_csv(text=text, actor="admin")
    assert [run.person.username for run in runs] == ["ada", "bob"]
    for run in runs:
        run.refresh_from_db()
        assert run.state == LifecycleRun.State.SUCCEEDED
    assert set(fake.accounts) == {"ada", "bob"}
    assert Person.objects.get(username="bob").team == other_team


def test_every_bad_row_is_named_and_nothing_is_created(fake, team):
    onboard("known", team)
    text = HEADER + (
        "ada,Ada,L,ada@example.test,vision\n"
        "root,Ro,Ot,root@example.test,vision\n"
        "ADA,Ada,Again,ada2@example.test,vision\n"
        "cy,Cy,L,not-an-email,vision\n"
        "dee,Dee,L,dee@example.test,no-such-team\n"
        "known,Kn,Own,known@example.test,vision\n"
        "eve,Eve\n"
    )
    problems = refused(text)
    assert [problem.split(":")[0] for problem in problems] == [
        "row 3", "row 4", "row 5", "row 6", "row 7", "row 8",
    ]  # fmt: skip
    assert "reserved" in problems[0]
    assert "'ada' is also on row 2" in problems[1]
    assert "no team 'no-such-team'" in problems[3]
    assert "already known" in problems[4]
    assert "ada" not in fake.accounts


def test_the_header_is_required(fake, team):
    problems = refused("ada,Ada,L,ada@example.test,vision\n")
    assert problems[0].startswith("row 1: the header must name the columns")


def test_a_start_date_is_refused_as_not_kept(fake, team):
    text = "username,first_name,last_name,email,team,start_date,end_date\n"
    problems = refused(text + "ada,Ada,L,ada@example.test,vision,2027-01-04,\n")
    assert problems == [
        "row 2: start_date is not read from a file yet; leave it empty and set it afterwards "
        "(manage.py person_dates)"
    ]
    runs = people_onboard_csv(text=text + "ada,Ada,L,ada@example.test,vision,,\n", actor="admin")
    assert len(runs) == 1


def test_a_file_longer_than_the_limit_is_refused(fake, team, settings):
    settings.BULK_MAX_ROWS = 2
    rows = "".join(f"p{n},P,N,p{n}@example.test,vision\n" for n in range(3))
    assert refused(HEADER + rows) == ["the file has 3 rows; at most 2 (BULK_MAX_ROWS) at once"]


def test_a_lead_may_onboard_only_into_their_own_teams(fake, team, other_team):
    text = HEADER + "ada,Ada,L,ada@example.test,vision\nbob,Bob,K,bob@example.test,nlp\n"
    assert refused(text, allowed_teams=[team]) == ["row 3: you may not onboard into team nlp"]


def test_a_file_over_the_hourly_limit_starts_nothing(fake, team, settings):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 2
    onboard("first", team)
    rows = "".join(f"p{n},P,N,p{n}@example.test,vision\n" for n in range(2))
    before = counts()
    with pytest.raises(TooManyRequests):
        people_onboard_csv(text=HEADER + rows, actor="admin")
    assert counts() == before


def test_the_command_exits_2_on_a_bad_file_and_dry_run_changes_nothing(
    fake, team, tmp_path, capsys
):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(HEADER.encode() + b"ada,Ad\xe9,L,ada@example.test,vision\n")
    with pytest.raises(CommandError) as caught:
        call_command("onboard_csv", str(bad))
    assert caught.value.returncode == 2
    assert "not UTF-8" in str(caught.value)
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "ada,Adé,L,ada@example.test,vision\n", encoding="utf-8-sig")
    before = counts()
    call_command("onboard_csv", str(good), "--dry-run")
    output = capsys.readouterr().out
    assert "Row 2: onboarding ada would:" in output
    assert "fake_account" in output
    assert counts() == before
    call_command("onboard_csv", str(good), "--wait")
    assert "All 1 runs succeeded." in capsys.readouterr().out
    assert Person.objects.get(username="ada").first_name == "Adé"
