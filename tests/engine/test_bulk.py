"""Onboarding many people from one CSV file: every row is checked first, and one bad row refuses
the whole file with each problem and its row, before anything is created."""

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from onboarding.errors import FileRefused, TooManyRequests
from onboarding.models import AuditEvent, LifecycleRun, Person
from onboarding.services import (
    people_onboard_csv,
    people_onboard_csv_check,
    people_onboard_csv_preview,
)
from tests.engine.conftest import onboard
from tests.engine.fake import Account

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
    onboarded = people_onboard_csv(text=text, actor="admin")
    runs = onboarded.runs
    assert onboarded.waiting == []
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


DATED = "username,first_name,last_name,email,team,start_date,end_date\n"


@pytest.fixture(autouse=True)
def today(clock) -> date:
    """Today's date, held for the whole test so that no test straddles midnight."""
    return clock.day(timezone.localdate())


def day(offset: int) -> str:
    """A date counted from today as a file or a request writes it, read when called."""
    return str(timezone.localdate() + timedelta(days=offset))


def test_a_row_with_a_start_date_to_come_waits_for_it_with_no_run(fake, team):
    text = DATED + (
        f"ada,Ada,L,ada@example.test,vision,{day(4)},{day(90)}\n"
        f"bob,Bob,K,bob@example.test,vision,{day(-3)},\n"
        "cy,Cy,L,cy@example.test,vision,,\n"
    )
    onboarded = people_onboard_csv(text=text, actor="admin")
    assert [run.person.username for run in onboarded.runs] == ["bob", "cy"]
    assert [person.username for person in onboarded.waiting] == ["ada"]
    ada = Person.objects.get(username="ada")
    assert (ada.status, ada.waits_for_start) == (Person.Status.NEW, True)
    assert (str(ada.start_date), str(ada.end_date)) == (day(4), day(90))
    assert not LifecycleRun.objects.filter(person=ada).exists()
    assert "ada" not in fake.accounts and "bob" in fake.accounts
    assert str(Person.objects.get(username="bob").start_date) == day(-3)
    bulk = AuditEvent.objects.get(action="onboard.bulk_request")
    assert bulk.details["waiting"] == ["ada"]
    assert AuditEvent.objects.get(action="onboard.schedule", target="ada").actor == "admin"


def test_bad_dates_are_row_problems_and_nothing_is_created(fake, team):
    text = DATED + (
        "ada,Ada,L,ada@example.test,vision,2027-02-30,\n"
        "bob,Bob,K,bob@example.test,vision,01/12/2027,\n"
        f"cy,Cy,L,cy@example.test,vision,{day(10)},{day(5)}\n"
        f"dee,Dee,L,dee@example.test,vision,,{day(-1)}\n"
        f"eve,Eve,L,eve@example.test,vision,{day(1)},{day(30)}\n"
    )
    assert refused(text) == [
        "row 2: start_date '2027-02-30' is not a date written YYYY-MM-DD",
        "row 3: start_date '01/12/2027' is not a date written YYYY-MM-DD",
        f"row 4: The end date {day(5)} is before the start date {day(10)}; nothing was changed.",
        f"row 5: The end date {day(-1)} is in the past; nothing was changed.",
    ]


def test_the_preview_says_which_rows_wait(fake, team):
    text = DATED + f"ada,Ada,L,ada@example.test,vision,{day(7)},\nbob,Bob,K,bob@x.test,vision,,\n"
    rows = [row for row, _ in people_onboard_csv_preview(text=text)]
    assert [(row.username, row.waits) for row in rows] == [("ada", True), ("bob", False)]
    assert rows[0].waiting_note == f"waits for its start date {day(7)}"
    assert not Person.objects.exists()


def test_waiting_people_count_against_the_hourly_limit_when_asked_for(fake, team, settings):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 2
    onboard("first", team)

    def waiting(*names: str) -> str:
        return DATED + "".join(f"{n},A,L,{n}@example.test,vision,{day(2)},\n" for n in names)

    before = counts()
    with pytest.raises(TooManyRequests, match="admin asked for 1 runs in the last hour"):
        people_onboard_csv(text=waiting("ada", "bob"), actor="admin")
    assert counts() == before
    onboarded = people_onboard_csv(text=waiting("ada"), actor="admin")
    assert (onboarded.runs, [p.username for p in onboarded.waiting]) == ([], ["ada"])


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
        call_command("people_onboard_csv", str(bad))
    assert caught.value.returncode == 2
    assert "not UTF-8" in str(caught.value)
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "ada,Adé,L,ada@example.test,vision\n", encoding="utf-8-sig")
    before = counts()
    call_command("people_onboard_csv", str(good), "--dry-run")
    output = capsys.readouterr().out
    assert "Row 2: onboarding ada would:" in output
    assert "fake_account" in output
    assert counts() == before
    call_command("people_onboard_csv", str(good), "--wait")
    assert "All 1 runs succeeded." in capsys.readouterr().out
    assert Person.objects.get(username="ada").first_name == "Adé"


def test_the_command_says_who_waits_for_their_start_date(fake, team, tmp_path, capsys):
    dated = tmp_path / "dated.csv"
    dated.write_text(DATED + f"gus,Gus,L,gus@example.test,vision,{day(3)},\n", encoding="utf-8")
    call_command("people_onboard_csv", str(dated), "--dry-run")
    assert f"Row 2: gus waits for its start date {day(3)}; its onboarding would then:" in (
        capsys.readouterr().out
    )
    call_command("people_onboard_csv", str(dated), "--wait")
    output = capsys.readouterr().out
    assert f"gus waits for its start date {day(3)}: no run now" in output
    assert "Run #" not in output
    assert Person.objects.get(username="gus").waits_for_start


def file_of(count: int) -> str:
    return HEADER + "".join(f"p{n},P,L,p{n}@example.test,vision\n" for n in range(count))


def test_a_files_check_asks_the_systems_as_often_for_300_rows_as_for_one(fake, team, settings):
    settings.BULK_MAX_ROWS = 500
    fake.accounts["p7"] = Account("p7", "vision")  # taken in the system already

    fake.calls.clear()
    assert len(people_onboard_csv_check(text=file_of(1))) == 1
    one_row = sum(fake.calls.values())
    fake.calls.clear()
    with pytest.raises(FileRefused) as caught:
        people_onboard_csv_check(text=file_of(300))

    assert sum(fake.calls.values()) == one_row
    assert caught.value.problems == ["row 9: The username 'p7' is taken in the fake directory."]


def test_a_row_with_three_problems_reports_all_three_at_once(fake, team):
    text = HEADER + "Mary Smith,Mary,S,mary@,visoin\n"

    problems = refused(text)

    assert problems[0] == "row 2: there is no team 'visoin'"
    assert len(problems) == 2
    assert problems[1].startswith("row 2: Username 'mary smith' may only include")
    assert "'mary@' is not a valid email address." in problems[1]
