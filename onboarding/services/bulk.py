"""Onboarding many people from one CSV file: reading its rows, checking each with the same rules
as one onboarding, previewing them and starting their runs."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import AccessAdminError, FileRefused, InvalidInput
from onboarding.exports import csv_cell
from onboarding.models import LifecycleRun, Person, Team
from onboarding.runner import PlannedChange, plan_steps
from onboarding.services.joiners import (
    person_onboard_fields_check,
    person_onboard_start,
    team_fits_check,
)
from onboarding.services.runs import requests_charge
from onboarding.systems import enabled
from onboarding.validation import username_fold

Kind = LifecycleRun.Kind


COLUMNS = ("username", "first_name", "last_name", "email", "team")
# Optional: an empty value (or no column) means onboard now, and no end date.
DATE_COLUMNS = ("start_date", "end_date")
# Only this form: 01/12/2026 means another day in another country.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The header is line 1, so a row's number is the line a spreadsheet shows it on.
FIRST_ROW = 2
# No column holds more (a name 128, an e-mail address 254): a longer cell is a mistake.
CELL_MAX_LENGTH = 1000


@dataclass(frozen=True)
class CsvRow:
    number: int
    username: str
    first_name: str
    last_name: str
    email: str
    team: str
    start_date: date | None = None
    end_date: date | None = None


def csv_date_read(value: str, *, column: str) -> date | None:
    """An optional YYYY-MM-DD value, or ValueError saying what is wrong with it."""
    if not value:
        return None
    try:
        if _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValueError(f"{column} {value!r} is not a date written YYYY-MM-DD")


def csv_text_normalise(text: str) -> str:
    """One form of the same file whatever its line endings: a browser sends a form's text back
    with CRLF (the HTML form encoding rewrites every line break), a Unix file has LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def csv_text_decode(data: bytes) -> str:
    """A file's bytes as text: UTF-8, with or without a byte-order mark, lines ending in LF."""
    try:
        return csv_text_normalise(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"The file is not UTF-8 (byte {error.start + 1} cannot be read); "
            "save it as CSV UTF-8 and try again. Nothing was created."
        ) from None


def csv_template(team: str) -> str:
    """A file to fill in: the header with every column, and one example row for `team`."""
    header = ",".join((*COLUMNS, *DATE_COLUMNS))
    return f"{header}\njdoe,Jane,Doe,jane.doe@example.com,{team},,\n"


_ROW_PROBLEM = re.compile(r"row ([0-9]+): (.*)", re.S)


def csv_annotated(text: str, problems: list[str]) -> str:
    """The file as it was sent, with a "problems" column saying what is wrong with each row (a
    problem of the whole file goes on the header), so it can be fixed where it was made. Cells
    that a spreadsheet would run as a formula are made text."""
    by_row: dict[int, list[str]] = {}
    for problem in problems:
        found = _ROW_PROBLEM.fullmatch(problem)
        number, said = (int(found[1]), found[2]) if found else (1, problem)
        by_row.setdefault(number, []).append(said)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    try:
        for number, values in enumerate(csv.reader(io.StringIO(text.removeprefix("\ufeff"))), 1):
            extra = "problems" if number == 1 else ""
            said = "; ".join(by_row.pop(number, []))
            writer.writerow(
                [csv_cell(value) for value in values] + [" ".join(filter(None, (extra, said)))]
            )
    except csv.Error:
        pass  # the problems already say where the file stopped being CSV
    for number, said in sorted(by_row.items()):
        writer.writerow([f"row {number}", "; ".join(said)])
    return out.getvalue()


def csv_rows_read(text: str, *, max_rows: int) -> tuple[list[CsvRow], list[str]]:
    """The file's rows, and the problems found reading them (each naming its row)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    rows: list[CsvRow] = []
    problems: list[str] = []
    number = 0  # the last row read: the header is row 1
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            return [], [
                f"row 1: the header must name the columns {', '.join(COLUMNS)} "
                f"(optional: {', '.join(DATE_COLUMNS)}); missing {', '.join(missing)}"
            ]
        unknown = [name for name in header if name not in COLUMNS + DATE_COLUMNS]
        if unknown:
            return [], [f"row 1: unknown columns {', '.join(unknown)}"]
        number = FIRST_ROW - 1
        for number, values in enumerate(reader, start=FIRST_ROW):
            problem = _row_problem(header, values)
            if problem is None:
                continue
            if problem:
                problems.append(f"row {number}: {problem}")
                continue
            fields = dict(zip(header, (value.strip() for value in values), strict=True))
            try:
                dates = {name: csv_date_read(fields.get(name, ""), column=name)
                         for name in DATE_COLUMNS}  # fmt: skip
            except ValueError as error:
                problems.append(f"row {number}: {error}")
                continue
            rows.append(CsvRow(number, *(fields[name] for name in COLUMNS), **dates))
    except csv.Error:
        # Python's csv stops at a cell over its field limit (131,072 characters) and cannot go on.
        problems.append(
            f"row {number + 1}: a value is longer than {CELL_MAX_LENGTH} characters, or the "
            "file is not CSV from here on; nothing after it was read"
        )
    if len(rows) > max_rows:
        return [], [f"the file has {len(rows)} rows; at most {max_rows} (BULK_MAX_ROWS) at once"]
    if not rows and not problems:
        problems.append("the file has a header but no rows")
    return rows, problems


def _row_problem(header: list[str], values: list[str]) -> str | None:
    """None for an empty row (skipped), "" for a row to read, or what is wrong with it."""
    if not any(value.strip() for value in values):
        return None
    if len(values) != len(header):
        return f"{len(values)} values for {len(header)} columns"
    for name, value in zip(header, values, strict=True):
        if len(value) > CELL_MAX_LENGTH:
            return f"{name} is {len(value)} characters long; at most {CELL_MAX_LENGTH}"
    return ""


@dataclass(frozen=True)
class BulkRow:
    """One checked row of a bulk file: the username as it will be stored, and its team. A row
    whose start date is still to come `waits`: its person is recorded, with no run until then."""

    number: int
    username: str
    first_name: str
    last_name: str
    email: str
    team: Team
    start_date: date | None = None
    end_date: date | None = None
    waits: bool = False

    @property
    def fields(self) -> dict:
        return {
            "username": self.username, "first_name": self.first_name,
            "last_name": self.last_name, "email": self.email, "team": self.team,
            "start_date": self.start_date, "end_date": self.end_date,
        }  # fmt: skip

    @property
    def waiting_note(self) -> str:
        return f"waits for its start date {self.start_date}" if self.waits else ""


def people_onboard_csv_check(
    *, text: str, allowed_teams: Iterable[Team] | None = None
) -> list[BulkRow]:
    """Every row checked as one onboarding would be, and against the others; FileRefused lists
    each problem with its row. `allowed_teams` (None: any) are the teams the asker leads. The
    systems are asked once for the whole file, and each team checked once, so the check costs
    the same few round trips whatever the file's length."""
    today = timezone.localdate()
    rows, problems = csv_rows_read(text, max_rows=settings.BULK_MAX_ROWS)
    teams = {team.name: team for team in Team.objects.all()}
    allowed = None if allowed_teams is None else {team.pk for team in allowed_teams}
    candidates, seen = [], {}
    for row in rows:
        row_problems = []
        team = teams.get(row.team)
        if team is None:
            row_problems.append(f"there is no team {row.team!r}")
        elif allowed is not None and team.pk not in allowed:
            row_problems.append(f"you may not onboard into team {team.name}")
        folded = username_fold(row.username)
        if folded in seen:
            row_problems.append(f"{folded!r} is also on row {seen[folded]}")
        else:
            seen[folded] = row.number
        try:
            if allowed is not None:
                # A lead is not told where someone of another team stands.
                _username_of_another_team_refuse(folded, allowed)
            username = person_onboard_fields_check(
                username=row.username, first_name=row.first_name, last_name=row.last_name,
                email=row.email, start_date=row.start_date, end_date=row.end_date,
            )  # fmt: skip
        except AccessAdminError as error:
            row_problems.append(str(error))
        if row_problems:
            problems += [f"row {row.number}: {problem}" for problem in row_problems]
            continue
        candidates.append((row, username, team))
    taken = _systems_onboard_problems([username for _, username, _ in candidates])
    team_problems = _teams_problems({team for _, _, team in candidates})
    checked = []
    for row, username, team in candidates:
        problem = taken.get(username) or team_problems.get(team.pk)
        if problem:
            problems.append(f"row {row.number}: {problem}")
            continue
        fields = {
            "first_name": row.first_name, "last_name": row.last_name, "email": row.email,
            "start_date": row.start_date, "end_date": row.end_date,
        }  # fmt: skip
        waits = row.start_date is not None and row.start_date > today
        checked.append(BulkRow(row.number, username, team=team, waits=waits, **fields))
    if problems:
        raise FileRefused(sorted(problems, key=_row_order))
    return checked


def _systems_onboard_problems(usernames: list[str]) -> dict[str, str]:
    """Each username's first problem, the first enabled system's that has one."""
    found: dict[str, str] = {}
    if not usernames:
        return found
    for system in enabled():
        for username, problem in system.onboard_problems(usernames).items():
            found.setdefault(username, problem)
    return found


def _teams_problems(teams: set[Team]) -> dict[int, str]:
    """Each team's problem, by its id: checked once however many rows name it."""
    problems = {}
    for team in teams:
        try:
            team_fits_check(team)
        except InvalidInput as error:
            problems[team.pk] = str(error)
    return problems


def _unavailable(username: str) -> str:
    return f"The username {username!r} is not available; choose another."


def _username_of_another_team_refuse(username: str, allowed: set[int]) -> None:
    if Person.objects.filter(username=username).exclude(team_id__in=allowed).exists():
        raise InvalidInput(_unavailable(username))


def _row_order(problem: str) -> int:
    number = problem.removeprefix("row ").split(":", 1)[0]
    return int(number) if number.isdigit() else 0


@dataclass(frozen=True)
class BulkOnboarded:
    """What a file started: a run for each row onboarded now, and the people who wait for their
    start date (no run yet), each in the file's order."""

    runs: list[LifecycleRun]
    waiting: list[Person]


def people_onboard_csv(
    *,
    text: str,
    actor: str,
    allowed_teams: Iterable[Team] | None = None,
    requested_by=None,
) -> BulkOnboarded:
    """Onboard everyone in the file, or no one: one bad row refuses the whole file."""
    rows = people_onboard_csv_check(text=text, allowed_teams=allowed_teams)
    runs, waiting = [], []
    with transaction.atomic():
        # Every row counts, those that wait for their start date too.
        requests_charge(actor=actor, what="onboard.bulk", count=len(rows))
        for row in rows:
            run = person_onboard_start(
                actor=actor, requested_by=requested_by, waits=row.waits, charge=False,
                **row.fields,
            )  # fmt: skip
            if run is None:
                waiting.append(Person.objects.select_related("team").get(username=row.username))
            else:
                runs.append(run)
        audit_record(
            actor=actor, action="onboard.bulk_request",
            target=f"{len(runs) + len(waiting)} people", outcome="requested",
            details={"runs": [run.pk for run in runs],
                     "waiting": [person.username for person in waiting]},
        )  # fmt: skip
    return BulkOnboarded(runs, waiting)


def people_onboard_csv_preview(
    *, text: str, allowed_teams: Iterable[Team] | None = None
) -> list[tuple[BulkRow, list[PlannedChange]]]:
    """Each row and what its onboarding will do: now, or on its start date if it waits. The
    rows were checked against the systems in one pass; each run checks its steps as it goes."""
    steps = plan_steps(Kind.ONBOARD)
    return [
        (row, steps) for row in people_onboard_csv_check(text=text, allowed_teams=allowed_teams)
    ]


def bulk_row_person(row: BulkRow) -> Person:
    """The person a row describes, unsaved (for previews)."""
    return Person(
        username=row.username, first_name=row.first_name, last_name=row.last_name,
        email=row.email, team=row.team,
    )  # fmt: skip
