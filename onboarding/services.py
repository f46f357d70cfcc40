"""What people and scripts ask for. Each request is checked first, so bad input changes nothing;
each takes the objects its caller already holds."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from onboarding import team_settings
from onboarding.audit import audit_record
from onboarding.bulk import csv_rows_read
from onboarding.errors import (
    AccessAdminError,
    DownstreamError,
    FileRefused,
    IllegalTransition,
    InvalidInput,
    PersonAlreadyKnown,
    RunInProgress,
    TooManyRequests,
)
from onboarding.models import (
    PERSON_STATUS,
    Finding,
    LifecycleRequest,
    LifecycleRun,
    Person,
    Team,
)
from onboarding.reconcile import system_findings, system_unanswered
from onboarding.runner import (
    PlannedChange,
    plan_preview,
    plan_steps,
    run_dispatch,
    run_steps_create,
)
from onboarding.runner import (
    run_resume_preview as _run_resume_preview,
)
from onboarding.runner import (
    run_rollback_preview as _run_rollback_preview,
)
from onboarding.signals import findings_found, person_offboard_requested
from onboarding.systems import enabled
from onboarding.validation import (
    group_name_check,
    person_fields_check,
    person_fields_problems,
    policy_arn_check,
    text_check,
    username_fold,
    username_for_a_person,
    username_normalise,
)

logger = logging.getLogger(__name__)

Kind = LifecycleRun.Kind
State = LifecycleRun.State
Status = Person.Status

# Who acts when AccessAdmin itself does something (beat's reconciliation pass).
SYSTEM_ACTOR = "accessadmin"


def _status(person: Person) -> str:
    return person.get_status_display().lower()


def _dispatch_on_commit(run: LifecycleRun, *, rolling_back: bool = False) -> None:
    """Send the run's message once it is committed; `run.dispatched` says whether the broker
    took it (when it did not, beat sends it again once the broker is back)."""

    def send() -> None:
        run.dispatched = run_dispatch(run.pk, rolling_back=rolling_back)

    transaction.on_commit(send)


def _no_run_in_progress(person: Person) -> None:
    active = person.runs.filter(state__in=LifecycleRun.ACTIVE_STATES).first()
    if active is not None:
        raise RunInProgress(
            f"{person.username} already has a {active.kind} run in progress (#{active.pk}); "
            "wait for it to finish."
        )


def _actor_lock(actor: str) -> None:
    """Hold the actor's request limit until this transaction ends, so parallel requests of one
    actor are counted one after the other. SQLite writes one transaction at a time anyway."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"lifecycle-requests:{actor}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def requests_charge(*, actor: str, what: str, count: int = 1) -> None:
    """Count `count` more requests against `actor`'s LIFECYCLE_REQUESTS_PER_HOUR, or refuse them
    all (TooManyRequests). Call it inside the transaction that does what was asked, so a refusal
    or a failure later in it leaves the count as it was."""
    limit = settings.LIFECYCLE_REQUESTS_PER_HOUR
    if not limit:
        return
    if count > limit:
        raise TooManyRequests(
            f"{count} requests at once is more than LIFECYCLE_REQUESTS_PER_HOUR={limit} allows; "
            "split the request. Nothing was changed."
        )
    with transaction.atomic():
        _actor_lock(actor)
        now = timezone.now()
        hour_ago = now - timedelta(hours=1)
        LifecycleRequest.objects.filter(actor=actor, at__lt=hour_ago).delete()
        recent = LifecycleRequest.objects.filter(actor=actor, at__gte=hour_ago)
        asked = recent.count()
        if asked + count > limit:
            # A request is allowed again once enough of this hour's requests are an hour old.
            aged = asked + count - limit
            freed_by = recent.order_by("at").values_list("at", flat=True)[aged - 1]
            wait = (freed_by + timedelta(hours=1) - now).total_seconds()
            raise TooManyRequests(
                f"{actor} asked for {asked} runs in the last hour, the most allowed "
                f"(LIFECYCLE_REQUESTS_PER_HOUR={limit}); nothing was changed. Try again later.",
                retry_after=max(1, math.ceil(wait)),
            )
        LifecycleRequest.objects.bulk_create(
            LifecycleRequest(actor=actor, what=what, at=now) for _ in range(count)
        )


def _run_start(
    *, person: Person, kind: str, actor: str, requested_by=None, params=None, charge: bool = True
) -> LifecycleRun:
    """Start a run of `kind` for them. It counts against the actor's request limit unless it
    takes access away, or `charge` is False (it was counted when it was asked for)."""
    _no_run_in_progress(person)
    try:
        with transaction.atomic():
            if charge and kind not in LifecycleRun.ENDS_ACCESS:
                requests_charge(actor=actor, what=kind)
            person.move_to(PERSON_STATUS[kind][0])
            run = LifecycleRun.objects.create(
                person=person,
                kind=kind,
                actor=actor,
                requested_by=requested_by,
                params=params or {},
                due_at=timezone.now(),
            )
            run_steps_create(run)
            audit_record(
                actor=actor, action=f"{kind}.request", target=person.username,
                outcome="requested", details={"run": run.pk, **(params or {})}, run=run,
            )  # fmt: skip
            _dispatch_on_commit(run)
    except (IntegrityError, IllegalTransition):
        # Another request for this person got there first.
        raise RunInProgress(f"{person.username} already has a run in progress.") from None
    return run


# Onboard --------------------------------------------------------------------------------------


def person_onboard_check(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    team: Team,
    start_date: date | None = None,
    end_date: date | None = None,
) -> str:
    """The username as it will be stored, or InvalidInput saying what is wrong."""
    username = _person_onboard_fields_check(
        username=username, first_name=first_name, last_name=last_name, email=email,
        start_date=start_date, end_date=end_date,
    )  # fmt: skip
    for system in enabled():
        problem = system.onboard_problem(username)
        if problem:
            raise InvalidInput(problem)
    team_fits_check(team)
    return username


def _person_onboard_fields_check(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    start_date: date | None,
    end_date: date | None,
) -> str:
    """What can be checked without asking the systems: the fields and the dates (every problem
    of them at once), then whether AccessAdmin knows the person already."""
    problems = []
    try:
        username = username_for_a_person(username)
    except InvalidInput as error:
        problems.append(str(error))
    problems += person_fields_problems(first_name=first_name, last_name=last_name, email=email)
    try:
        _dates_check(start_date=start_date, end_date=end_date)
    except InvalidInput as error:
        problems.append(str(error))
    if problems:
        raise InvalidInput(" ".join(problems))
    existing = Person.objects.filter(username=username).first()
    if existing is not None:
        _no_run_in_progress(existing)
    if existing is not None and existing.status != Status.NEW:
        raise PersonAlreadyKnown(username, existing.get_status_display())
    return username


def _dates_check(*, start_date: date | None, end_date: date | None) -> None:
    if end_date is not None and end_date < timezone.localdate():
        raise InvalidInput(f"The end date {end_date} is in the past; nothing was changed.")
    if start_date is not None and end_date is not None and end_date < start_date:
        raise InvalidInput(
            f"The end date {end_date} is before the start date {start_date}; nothing was changed."
        )


def team_fits_check(team: Team) -> None:
    """Refuse a run that a system already knows would fail half-way for this team."""
    for system in enabled():
        problem = system.team_problem(team)
        if problem:
            raise InvalidInput(f"{problem}; no run was started.")


def person_onboard(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    team: Team,
    actor: str,
    requested_by=None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> LifecycleRun | None:
    """Onboard them now, or, with a start date still to come, record them as waiting for it
    (no run: None) and let `lifecycle_due` start their onboarding on the day."""
    username = person_onboard_check(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team,
        start_date=start_date, end_date=end_date,
    )  # fmt: skip
    return _person_onboard_start(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team,
        actor=actor, requested_by=requested_by, start_date=start_date, end_date=end_date,
        waits=start_date is not None and start_date > timezone.localdate(),
    )  # fmt: skip


def _person_onboard_start(
    *, username: str, first_name: str, last_name: str, email: str, team: Team, actor: str,
    requested_by=None, start_date: date | None = None, end_date: date | None = None,
    waits: bool = False, charge: bool = True,
) -> LifecycleRun | None:  # fmt: skip
    with transaction.atomic():
        if waits and charge:
            # A joiner counts against whoever asked for them now, not on their start date.
            requests_charge(actor=actor, what="onboard.schedule")
        person, _ = Person.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first_name.strip(),
                "last_name": last_name.strip(),
                "email": email.strip(),
                "team": team,
                "start_date": start_date,
                "end_date": end_date,
                "waits_for_start": waits,
                "start_requested_by": requested_by if waits else None,
            },
        )
        if waits:
            audit_record(
                actor=actor, action="onboard.schedule", target=username, outcome="requested",
                details={"start_date": str(start_date),
                         "end_date": str(end_date) if end_date else None},
            )  # fmt: skip
            return None
        return _run_start(
            person=person, kind=Kind.ONBOARD, actor=actor, requested_by=requested_by,
            charge=charge,
        )  # fmt: skip


def person_onboard_preview(
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    team: Team,
    start_date: date | None = None,
    end_date: date | None = None,
) -> list[PlannedChange]:
    username = person_onboard_check(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team,
        start_date=start_date, end_date=end_date,
    )  # fmt: skip
    person = Person(
        username=username, first_name=first_name, last_name=last_name, email=email, team=team
    )
    return plan_preview(kind=Kind.ONBOARD, person=person, team=team)


# Onboard many, from a CSV file ----------------------------------------------------------------


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
            username = _person_onboard_fields_check(
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
            run = _person_onboard_start(
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


# Offboard -------------------------------------------------------------------------------------


def person_offboard_check(*, person: Person, reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required to offboard someone.")
    reason = text_check(reason, label="The reason")
    _no_run_in_progress(person)
    if not person.may_be_offboarded:
        raise InvalidInput(f"{person.username} cannot be offboarded: they are {_status(person)}.")
    return reason


def person_offboard(*, person: Person, reason: str, actor: str, requested_by=None) -> LifecycleRun:
    """Offboard them; whatever the run still has to do, they stop leading teams here and their
    AccessAdmin sessions end at once."""
    reason = person_offboard_check(person=person, reason=reason)
    with transaction.atomic():
        run = _run_start(
            person=person, kind=Kind.OFFBOARD, actor=actor, requested_by=requested_by,
            params={"reason": reason},
        )  # fmt: skip
        _lead_roles_end(person.username, actor=actor)
    person_offboard_requested.send(sender=Person, username=person.username)
    return run


def _lead_roles_end(username: str, *, actor: str) -> None:
    for team in Team.objects.filter(leads__username=username).order_by("name"):
        team.leads.remove(*team.leads.filter(username=username))
        audit_record(
            actor=actor, action="team.change", target=team.name, outcome="succeeded",
            details={"leads_removed": [username], "why": f"{username} is offboarded"},
        )  # fmt: skip


def person_offboard_preview(*, person: Person, reason: str) -> list[PlannedChange]:
    person_offboard_check(person=person, reason=reason)
    return plan_preview(kind=Kind.OFFBOARD, person=person, team=person.team)


# Move -----------------------------------------------------------------------------------------


def person_move_check(*, person: Person, team: Team) -> None:
    _no_run_in_progress(person)
    if not person.may_be_moved:
        raise InvalidInput(
            f"{person.username} can only move team when active; they are {_status(person)}."
        )
    if team == person.team:
        raise InvalidInput(f"{person.username} is already in team {team.name}.")
    team_fits_check(team)


def person_move(*, person: Person, team: Team, actor: str, requested_by=None) -> LifecycleRun:
    person_move_check(person=person, team=team)
    return _run_start(
        person=person, kind=Kind.MOVE, actor=actor, requested_by=requested_by,
        params={"from_team": person.team.name, "to_team": team.name, "to_team_id": team.pk},
    )  # fmt: skip


def person_move_preview(*, person: Person, team: Team) -> list[PlannedChange]:
    person_move_check(person=person, team=team)
    return plan_preview(kind=Kind.MOVE, person=person, team=team, previous_team=person.team)


# Reinstate ------------------------------------------------------------------------------------


def person_reinstate_check(*, person: Person, reason: str, team: Team | None = None) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required to reinstate someone.")
    reason = text_check(reason, label="The reason")
    _no_run_in_progress(person)
    if not person.may_be_reinstated:
        raise InvalidInput(f"{person.username} is not offboarded; they are {_status(person)}.")
    team_fits_check(team or person.team)
    return reason


def person_reinstate(
    *,
    person: Person,
    reason: str,
    team: Team | None = None,
    actor: str,
    requested_by=None,
) -> LifecycleRun:
    """Give an offboarded person their access back: in `team` when they come back to another
    one, in their own otherwise."""
    team = team or person.team
    reason = person_reinstate_check(person=person, reason=reason, team=team)
    from_team = person.team
    params = {"reason": reason, "from_team": from_team.name, "to_team": team.name}
    try:
        with transaction.atomic():
            if team != from_team:
                # Before the run exists: its steps work with the person's team.
                Person.objects.filter(pk=person.pk).update(team=team, updated_at=timezone.now())
                person.team = team
            return _run_start(
                person=person, kind=Kind.REINSTATE, actor=actor, requested_by=requested_by,
                params=params,
            )  # fmt: skip
    except AccessAdminError:
        person.team = from_team
        raise


def person_reinstate_preview(
    *, person: Person, reason: str, team: Team | None = None
) -> list[PlannedChange]:
    team = team or person.team
    person_reinstate_check(person=person, reason=reason, team=team)
    return plan_preview(kind=Kind.REINSTATE, person=person, team=team)


# Name and e-mail ------------------------------------------------------------------------------


def person_update_check(
    *, person: Person, first_name: str, last_name: str, email: str
) -> dict[str, dict[str, str]]:
    """What would change, as {field: {"before": ..., "after": ...}}, or InvalidInput."""
    wanted = {
        "first_name": (first_name or "").strip(),
        "last_name": (last_name or "").strip(),
        "email": (email or "").strip(),
    }
    person_fields_check(**wanted)
    if person.status != Status.ACTIVE:
        # Anyone else has no account to change, or a run under way that uses the old one.
        raise InvalidInput(
            f"{person.username}'s name and e-mail can be changed only while they are active; "
            f"they are {_status(person)}."
        )
    changes = {
        field: {"before": getattr(person, field), "after": value}
        for field, value in wanted.items()
        if getattr(person, field) != value
    }
    if not changes:
        raise InvalidInput(f"{person.username} already has this name and e-mail; nothing changed.")
    return changes


def person_update(
    *, person: Person, first_name: str, last_name: str, email: str, actor: str
) -> Person:
    """Change a person's name and e-mail in each system that keeps them (FreeIPA), then here.
    Bad input, or a system that refuses or cannot be reached, leaves everything as it was."""
    fields = {"first_name": first_name, "last_name": last_name, "email": email}
    changes = person_update_check(person=person, **fields)
    try:
        with transaction.atomic():
            # Locked while the systems are asked, so no run starts for them meanwhile.
            locked = Person.objects.select_for_update().get(pk=person.pk)
            changes = person_update_check(person=locked, **fields)
            wanted = {
                field: changes[field]["after"] if field in changes else getattr(locked, field)
                for field in fields
            }
            for system in enabled():
                system.person_details_set(person=locked, **wanted)
            Person.objects.filter(pk=locked.pk).update(**wanted, updated_at=timezone.now())
            audit_record(
                actor=actor, action="person.update", target=person.username,
                outcome="succeeded", details=changes,
            )  # fmt: skip
    except DownstreamError as error:
        audit_record(
            actor=actor, action="person.update", target=person.username, outcome="failed",
            details={**changes, "error": str(error)},
        )  # fmt: skip
        raise type(error)(error.system, f"{error.message}; nothing was changed") from error
    for field, value in wanted.items():
        setattr(person, field, value)
    return person


# Credential reset ----------------------------------------------------------------------------


def person_credentials_reset_check(*, person: Person) -> None:
    _no_run_in_progress(person)
    if person.status != Status.ACTIVE:
        raise InvalidInput(
            f"{person.username} is {_status(person)}; only an active person's password and OTP "
            "token can be reset."
        )


def person_credentials_reset(*, person: Person, actor: str, requested_by=None) -> LifecycleRun:
    """Delete their OTP tokens, make a new one and issue a new expired temporary password; the
    new secrets are handed to whoever asked, once, as an onboarding's are."""
    person_credentials_reset_check(person=person)
    return _run_start(person=person, kind=Kind.RESET, actor=actor, requested_by=requested_by)


def person_credentials_reset_preview(*, person: Person) -> list[PlannedChange]:
    person_credentials_reset_check(person=person)
    return plan_preview(kind=Kind.RESET, person=person, team=person.team)


# Start and end dates ---------------------------------------------------------------------------


class _Kept:
    def __repr__(self) -> str:
        return "KEPT"


# A date argument left out: the person's date stays as it is (None clears it).
KEPT: Any = _Kept()


def person_dates_set(
    *,
    person: Person,
    end_date: date | None = KEPT,
    start_date: date | None = KEPT,
    actor: str,
) -> Person:
    """Extend, bring forward or clear (None) a person's end date; `lifecycle_due` offboards them
    once it has come. A date in the past, or before their start date, is refused. The start date
    changes only while they wait for it (their onboarding starts on the new one). A change
    counts against the actor's request limit, unless it only ends access sooner."""
    if person.status in (Status.OFFBOARDING, Status.OFFBOARDED):
        raise InvalidInput(f"{person.username} is {_status(person)}; their end date stays.")
    start_given = start_date is not KEPT
    start_date = person.start_date if start_date is KEPT else start_date
    end_date = person.end_date if end_date is KEPT else end_date
    if start_date != person.start_date:
        _start_date_change_check(person, start_date)
    _dates_check(start_date=start_date, end_date=end_date)
    if (start_date, end_date) == (person.start_date, person.end_date):
        if start_given:
            raise InvalidInput(
                f"{person.username}'s dates are already: start {start_date or 'unset'}, "
                f"end {end_date or 'unset'}."
            )
        raise InvalidInput(f"{person.username}'s end date is already {end_date or 'unset'}.")
    changes = {
        name: {"before": before and str(before), "after": after and str(after)}
        for name, before, after in (
            ("start_date", person.start_date, start_date), ("end_date", person.end_date, end_date),
        )
        if before != after
    }  # fmt: skip
    with transaction.atomic():
        if not _only_ends_access_sooner(person, start_date=start_date, end_date=end_date):
            requests_charge(actor=actor, what="person.dates")
        Person.objects.filter(pk=person.pk).update(
            start_date=start_date, end_date=end_date, updated_at=timezone.now()
        )
        audit_record(
            actor=actor, action="person.dates", target=person.username, outcome="succeeded",
            details=changes,
        )  # fmt: skip
    person.start_date, person.end_date = start_date, end_date
    return person


def _only_ends_access_sooner(
    person: Person, *, start_date: date | None, end_date: date | None
) -> bool:
    """A change that only sets or brings forward an end date: a leaver's, never held back."""
    sooner = end_date is not None and (person.end_date is None or end_date < person.end_date)
    return start_date == person.start_date and sooner


def _start_date_change_check(person: Person, start_date: date | None) -> None:
    if not (person.status == Status.NEW and person.waits_for_start):
        raise InvalidInput(
            f"{person.username} is not waiting for a start date ({_status(person)}); their "
            "start date stays."
        )
    if start_date is None:
        raise InvalidInput(
            f"{person.username} waits for their start date: give a new one (today's starts "
            "their onboarding on the next pass) rather than none."
        )


@dataclass(frozen=True)
class DueOutcome:
    username: str
    kind: str
    run: LifecycleRun | None
    note: str = ""


END_DATE_REACHED = "end date reached"


def lifecycle_due(*, actor: str) -> list[DueOutcome]:
    """Start what the calendar asks for: first the offboarding of every active person whose end
    date has come, then the onboarding of everyone whose start date has. No one's request limit
    holds either back (a joiner was counted when they were asked for). Whoever has a run under
    way, or cannot be started now, is skipped with a note and tried again on the next pass."""
    today = timezone.localdate()
    outcomes = []
    leavers = Person.objects.select_related("team").filter(
        status=Status.ACTIVE, end_date__lte=today
    )
    for person in leavers.order_by("end_date", "username"):
        outcomes.append(
            _due_start(
                person, Kind.OFFBOARD,
                lambda p: person_offboard(person=p, reason=END_DATE_REACHED, actor=actor),
            )
        )  # fmt: skip
    joiners = Person.objects.select_related("team").filter(
        status=Status.NEW, waits_for_start=True, start_date__lte=today
    )
    for person in joiners.order_by("start_date", "username"):
        outcomes.append(_due_start(person, Kind.ONBOARD, lambda p: _joiner_start(p, actor)))
    return outcomes


def _due_start(person: Person, kind: str, start) -> DueOutcome:
    try:
        run = start(person)
    except AccessAdminError as error:
        return DueOutcome(person.username, kind, None, f"skipped: {error}")
    return DueOutcome(person.username, kind, run)


def _joiner_start(person: Person, actor: str) -> LifecycleRun:
    _no_run_in_progress(person)
    team_fits_check(person.team)
    with transaction.atomic():
        Person.objects.filter(pk=person.pk).update(waits_for_start=False)
        person.waits_for_start = False
        return _run_start(
            person=person, kind=Kind.ONBOARD, actor=actor,
            requested_by=_hand_over_still_possible(person, actor=actor), charge=False,
        )  # fmt: skip


def _hand_over_still_possible(person: Person, *, actor: str):
    """Who was named, when the joiner was scheduled, to hand their credentials over, unless they
    have left or been disabled since: then nobody (an admin resets the credentials)."""
    named = person.start_requested_by
    if named is None:
        return None
    leaving = Person.objects.filter(
        username=named.get_username(), status__in=(Status.OFFBOARDING, Status.OFFBOARDED)
    ).exists()
    if named.is_active and not leaving:
        return named
    audit_record(
        actor=actor, action="onboard.hand_over_dropped", target=person.username,
        outcome="denied",
        details={"named": named.get_username(), "why": "no longer active or offboarded"},
    )  # fmt: skip
    return None


# Resume, roll back and requeue ---------------------------------------------------------------


def _run_failed_check(run: LifecycleRun, doing: str) -> None:
    if run.state != State.FAILED:
        raise InvalidInput(
            f"Run #{run.pk} is {run.get_state_display().lower()}; only a failed run can be {doing}."
        )


def _run_requeue_now(run: LifecycleRun, *, actor: str, action: str, **fields) -> LifecycleRun:
    rolling_back = run.state == State.ROLLING_BACK or fields.get("state") == State.ROLLING_BACK
    state = fields.pop("state", run.state)
    try:
        with transaction.atomic():
            moved = (
                run.move_to(state, **fields)
                if state != run.state
                else LifecycleRun.objects.filter(
                    pk=run.pk, state=run.state, worker=run.worker
                ).update(**fields)
            )
            if not moved:
                raise RunInProgress(f"Run #{run.pk} changed meanwhile; look again.")
            audit_record(
                actor=actor, action=f"{run.kind}.{action}", target=run.person.username,
                outcome="requested", details={"run": run.pk}, run=run,
            )  # fmt: skip
            _dispatch_on_commit(run, rolling_back=rolling_back)
    except IntegrityError:
        # A request for the same person started another run in between.
        raise RunInProgress(
            f"{run.person.username} already has another run in progress; run #{run.pk} stays "
            f"{run.get_state_display().lower()}."
        ) from None
    return run


def run_resume(*, run: LifecycleRun, actor: str) -> LifecycleRun:
    """Queue a failed run again: it re-checks the failed step and goes on from there. A queued
    run that no worker picked up is sent again."""
    if run.state == State.QUEUED and run.is_overdue:
        return run_requeue(run=run, actor=actor)
    _run_failed_check(run, "resumed")
    return _run_requeue_now(
        run, actor=actor, action="resume", state=State.QUEUED, error="", finished_at=None,
        worker="", retries=0, due_at=timezone.now(),
    )  # fmt: skip


def run_resume_preview(*, run: LifecycleRun) -> list[PlannedChange]:
    _run_failed_check(run, "resumed")
    return _run_resume_preview(run)


def run_rollback(*, run: LifecycleRun, actor: str) -> LifecycleRun:
    """Undo a failed run's completed steps, newest first."""
    _run_failed_check(run, "rolled back")
    _repair_rollback_refuse(run)
    return _run_requeue_now(
        run, actor=actor, action="rollback", state=State.ROLLING_BACK, error="",
        finished_at=None, worker="", heartbeat_at=None, retries=0, due_at=timezone.now(),
    )  # fmt: skip


def _repair_rollback_refuse(run: LifecycleRun) -> None:
    if run.kind == Kind.RESET:
        raise InvalidInput(
            f"Run #{run.pk} is a credential reset: the old OTP token and password cannot come "
            "back. Resume it once the cause is fixed."
        )
    if run.kind in LifecycleRun.REPAIRS:
        raise InvalidInput(
            f"Run #{run.pk} is a repair: undoing it would bring back what was wrong. Resume it "
            "once the cause is fixed, or run reconcile again."
        )


def run_rollback_preview(*, run: LifecycleRun) -> list[PlannedChange]:
    _run_failed_check(run, "rolled back")
    _repair_rollback_refuse(run)
    return _run_rollback_preview(run)


def run_requeue(*, run: LifecycleRun, actor: str) -> LifecycleRun:
    """Send a run that is stuck (queued and never picked up, or held by a silent worker) to the
    workers again. A run whose worker is alive is left to it."""
    if not run.is_active:
        raise InvalidInput(
            f"Run #{run.pk} is {run.get_state_display().lower()}; only a queued, running or "
            "rolling-back run can be requeued."
        )
    if not run.is_overdue:
        raise InvalidInput(
            f"Run #{run.pk} is in hand ({run.worker or 'queued'}, due or last heard of less than "
            f"{settings.LIFECYCLE_STALE_SECONDS} s ago); it does not need requeueing."
        )
    return _run_requeue_now(
        run, actor=actor, action="requeue", worker="", heartbeat_at=None, due_at=timezone.now()
    )


# Reconcile and repair -------------------------------------------------------------------------

# Serialises passes that store findings (beat's and a command's at once).
_RECONCILE_LOCK = 0x5EC0_9C11


def reconcile(*, actor: str) -> list[Finding]:
    """Compare what AccessAdmin believes about its people with what each enabled system holds,
    asking each system once (its inventory). Stores what is found: a finding seen before keeps
    its first sighting, one no longer found is resolved (unless its system did not answer), a
    new one is audited. Returns the open findings of this pass."""
    people = {person.username: person for person in Person.objects.select_related("team")}
    busy = set(
        LifecycleRun.objects.filter(state__in=LifecycleRun.ACTIVE_STATES).values_list(
            "person__username", flat=True
        )
    )
    found: list[Finding] = []
    for system in enabled():
        try:
            inventory = system.inventory()
        except AccessAdminError as error:
            found.append(system_unanswered(system, str(error)))
            continue
        except Exception as error:  # one broken system must not hide what the others hold
            logger.exception("reconcile: the inventory of %s failed", system.name)
            found.append(system_unanswered(system, f"unexpected {type(error).__name__}"))
            continue
        found += system_findings(system, inventory, people, busy)
    return _findings_store(found, actor=actor)


def reconcile_request(*, actor: str) -> bool:
    """Ask a worker for a reconciliation pass now; False when the broker did not take it."""
    from onboarding.tasks import reconcile_task

    try:
        reconcile_task.apply_async(retry=False)
    except Exception as error:  # kombu and redis raise many kinds; all mean "not sent"
        logger.warning("reconciliation pass not sent: %s: %s", type(error).__name__, error)
        return False
    audit_record(
        actor=actor, action="reconcile.request", target="reconciliation", outcome="requested"
    )
    return True


def _findings_store(found: list[Finding], *, actor: str) -> list[Finding]:
    now = timezone.now()
    current: dict[tuple, Finding] = {}
    for finding in found:
        current.setdefault(finding.key, finding)
    silent = {finding.system for finding in current.values() if finding.kind == "unanswered"}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RECONCILE_LOCK])
        stored = {row.key: row for row in Finding.objects.open()}
        seen = [row for key, row in stored.items() if key in current]
        for row in seen:
            row.detail, row.last_seen = current[row.key].detail, now
        Finding.objects.bulk_update(seen, ["detail", "last_seen"], batch_size=500)
        gone = [
            row.pk for key, row in stored.items() if key not in current and row.system not in silent
        ]
        Finding.objects.filter(pk__in=gone).update(resolved_at=now)
        new = [finding for key, finding in current.items() if key not in stored]
        for finding in new:
            finding.first_seen = finding.last_seen = now
        Finding.objects.bulk_create(new, batch_size=500)
        for finding in new:
            audit_record(
                actor=actor, action="reconcile.finding", target=finding.username or finding.system,
                outcome="failed",
                details={"system": finding.system, "kind": finding.kind,
                         "subject": finding.subject, "detail": finding.detail},
            )  # fmt: skip
        # The pass itself, so that every page showing findings can say how fresh they are.
        audit_record(
            actor=actor, action="reconcile.pass", target="reconciliation",
            outcome="succeeded" if not silent else "failed",
            details={"open": len(seen) + len(new), "new": len(new), "silent": sorted(silent)},
        )  # fmt: skip
        if new:
            findings_found.send(sender=Finding, findings=new)
    return sorted([*seen, *new], key=lambda f: (f.username, f.system, f.subject, f.kind))


def person_repair(*, person: Person, actor: str, requested_by=None) -> LifecycleRun:
    """Make what the systems hold for them what AccessAdmin expects: an active person's missing
    or wrong objects are made right (a repair run), an offboarded person's leftovers go (the
    offboarding's steps again). Each step is checked first, so what is right is left alone."""
    _no_run_in_progress(person)
    kind = {Status.ACTIVE: Kind.REPAIR, Status.OFFBOARDED: Kind.REPAIR_OFFBOARDED}.get(
        person.status
    )
    if kind is None:
        raise InvalidInput(
            f"{person.username} is {_status(person)}; only active or offboarded people are "
            "repaired."
        )
    return _run_start(person=person, kind=kind, actor=actor, requested_by=requested_by)


@dataclass(frozen=True)
class RepairOutcome:
    username: str
    run: LifecycleRun | None
    note: str = ""


def findings_repair(
    *, findings: list[Finding], actor: str, username: str | None = None
) -> list[RepairOutcome]:
    """A repair run for each person (or only `username`) with missing, differing or unexpected
    objects; orphans are only reported. Whoever has a run under way is skipped, with a note."""
    wanted = sorted(
        {
            finding.username
            for finding in findings
            if finding.kind in Finding.REPAIRABLE and finding.username
            and (username is None or finding.username == username)
        }
    )  # fmt: skip
    if username is not None and not wanted:
        return [RepairOutcome(username, None, "nothing of theirs to repair")]
    outcomes = []
    for person in Person.objects.select_related("team").filter(username__in=wanted):
        try:
            run = person_repair(person=person, actor=actor)
        except AccessAdminError as error:
            outcomes.append(RepairOutcome(person.username, None, f"skipped: {error}"))
        else:
            outcomes.append(RepairOutcome(person.username, run))
    return outcomes


def team_members_apply(*, team: Team, actor: str, requested_by=None) -> list[RepairOutcome]:
    """Bring the team's current members to what the team now says (its groups, policies and hub
    group): a repair run for each active member, whose steps change only what differs. Someone
    with a run under way, or not active, is skipped with a note."""
    outcomes = []
    for person in team.members.select_related("team").order_by("username"):
        if person.status == Status.OFFBOARDED:
            continue
        try:
            if person.status != Status.ACTIVE:
                raise InvalidInput(f"{person.username} is {_status(person)}")
            run = _run_start(
                person=person, kind=Kind.REPAIR, actor=actor, requested_by=requested_by,
                params={"team_change": team.name},
            )  # fmt: skip
        except AccessAdminError as error:
            outcomes.append(RepairOutcome(person.username, None, f"skipped: {error}"))
        else:
            outcomes.append(RepairOutcome(person.username, run))
    return outcomes


def team_members_apply_preview(*, team: Team) -> list[tuple[Person, list[PlannedChange]]]:
    """What applying the team to each active member would change, member by member."""
    members = team.members.filter(status=Status.ACTIVE).select_related("team").order_by("username")
    return [
        (person, plan_preview(kind=Kind.REPAIR, person=person, team=team)) for person in members
    ]


# Teams ----------------------------------------------------------------------------------------


def team_set(
    *,
    name: str,
    group: str | None = None,
    leads: list[str] | None = None,
    policy_arns: list[str] | None = None,
    jupyterhub_group: str | None = None,
    system_settings: dict[str, dict[str, Any]] | None = None,
    actor: str,
) -> tuple[Team, bool]:
    """Create or change a team; each system makes what the team needs (its FreeIPA group).
    `leads`, when given, is the exact list: whoever is not in it stops leading the team, here
    and as a member manager of its FreeIPA group. Every input is checked before anything
    changes, and all that is wrong is said at once."""
    team = Team.objects.filter(name=name).first()
    created = team is None
    lead_names = None if leads is None else sorted({username_normalise(lead) for lead in leads})
    problems = _team_problems(created, group, policy_arns, jupyterhub_group, lead_names or [])
    setting_values, setting_problems = team_settings.settings_parse(system_settings)
    setting_problems = setting_problems or team_settings.settings_ask(setting_values)
    problems += team_settings.settings_problems_text(setting_problems)
    if policy_arns is not None and not problems:
        # What the systems know against the team as it would be (a role's policy quota).
        candidate = Team(name=name, iam_policy_arns=policy_arns)
        problems += [p for system in enabled() if (p := system.team_problem(candidate))]
    if problems:
        raise InvalidInput(" ".join(problems))
    with transaction.atomic():
        if created:
            team = Team(name=name)
        if group:
            team.freeipa_group = group
        if policy_arns is not None:
            team.iam_policy_arns = policy_arns
        if jupyterhub_group is not None:
            team.jupyterhub_group = jupyterhub_group
        team.system_settings = team_settings.settings_merged(team, setting_values)
        team.full_clean()
        team.save()
        before = sorted(team.leads.values_list("username", flat=True))
        if lead_names is not None:
            User = get_user_model()
            team.leads.set([User.objects.get_or_create(username=lead)[0] for lead in lead_names])
        for system in enabled():
            system.team_apply(team=team, leads=lead_names)
        after = sorted(team.leads.values_list("username", flat=True))
        audit_record(
            actor=actor, action="team.create" if created else "team.change", target=team.name,
            outcome="succeeded",
            details={
                "group": team.freeipa_group, "leads": after,
                "leads_removed": sorted(set(before) - set(after)),
                "policy_arns": team.iam_policy_arns, "jupyterhub_group": team.jupyterhub_group,
                "system_settings": team_settings.team_settings_all(team),
            },
        )  # fmt: skip
    return team, created


MAX_TEAM_POLICIES = 20


def _team_problems(
    created: bool,
    group: str | None,
    policy_arns: list[str] | None,
    jupyterhub_group: str | None,
    lead_names: list[str],
) -> list[str]:
    problems = []

    def check(rule, *args, **kwargs) -> None:
        try:
            rule(*args, **kwargs)
        except InvalidInput as error:
            problems.append(str(error))

    if created and not group:
        problems.append("A new team needs its FreeIPA group (--group) to be named.")
    if group:
        check(group_name_check, group)
    if jupyterhub_group:
        check(group_name_check, jupyterhub_group, label="JupyterHub group")
    if len(policy_arns or []) > MAX_TEAM_POLICIES:
        problems.append(f"A team may have at most {MAX_TEAM_POLICIES} IAM policies.")
    for arn in policy_arns or []:
        check(policy_arn_check, arn)
    leaving = Person.objects.filter(
        username__in=lead_names, status__in=(Status.OFFBOARDING, Status.OFFBOARDED)
    ).values_list("username", flat=True)
    problems += [f"{username} is offboarded and cannot lead a team." for username in leaving]
    for lead in lead_names:
        for system in enabled():
            problem = system.lead_problem(lead)
            if problem:
                problems.append(problem)
    return problems
