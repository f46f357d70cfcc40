"""Read-only queries. The web UI passes what the viewer may see (querysets of people, runs and
events); nothing here changes anything."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from onboarding import team_settings
from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import AuditEvent, Credential, Finding, LifecycleRun, Person, Team
from onboarding.systems import enabled
from onboarding.validation import username_fold

RUN_COLUMNS = ("person__team",)


def team_get(name: str) -> Team:
    try:
        return Team.objects.get(name=name)
    except Team.DoesNotExist:
        known = ", ".join(Team.objects.values_list("name", flat=True)) or "none yet"
        raise InvalidInput(f"There is no team {name!r} (teams: {known}).") from None


def person_get(username: str) -> Person:
    try:
        return Person.objects.select_related("team").get(username=username_fold(username))
    except Person.DoesNotExist:
        raise InvalidInput(f"AccessAdmin knows no person {username!r}.") from None


def run_get(run_id: int) -> LifecycleRun:
    run = LifecycleRun.objects.filter(pk=run_id).select_related("person__team").first()
    if run is None:
        raise InvalidInput(f"There is no run #{run_id}.")
    return run


def people_search(
    people: QuerySet[Person], *, text: str = "", team: str = "", status: str = ""
) -> QuerySet[Person]:
    people = people.select_related("team").order_by("username")
    if text:
        people = people.filter(
            Q(username__icontains=text)
            | Q(first_name__icontains=text)
            | Q(last_name__icontains=text)
            | Q(email__icontains=text)
        )
    if team:
        people = people.filter(team__name=team)
    if status:
        people = people.filter(status=status)
    return people


def people_by_status(people: QuerySet[Person]) -> list[tuple[str, str, int]]:
    """(status, label, count) for every status, zeros included, in lifecycle order."""
    counts = dict(
        people.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return [(value, label, counts.get(value, 0)) for value, label in Person.Status.choices]


def people_leaving_soon(people: QuerySet[Person], *, days: int | None = None) -> list[Person]:
    """Active people whose end date is within `days` (LEAVING_SOON_DAYS), soonest first."""
    today = timezone.localdate()
    days = settings.LEAVING_SOON_DAYS if days is None else days
    return list(
        people.filter(status=Person.Status.ACTIVE, end_date__lte=today + timedelta(days=days))
        .select_related("team")
        .order_by("end_date", "username")
    )


def runs_in_progress(runs: QuerySet[LifecycleRun], limit: int = 20) -> list[LifecycleRun]:
    return list(
        runs.filter(state__in=LifecycleRun.ACTIVE_STATES)
        .select_related(*RUN_COLUMNS)
        .order_by("-created_at")[:limit]
    )


def runs_needing_action(runs: QuerySet[LifecycleRun], limit: int = 20) -> list[LifecycleRun]:
    return list(
        runs.filter(state=LifecycleRun.State.FAILED)
        .select_related(*RUN_COLUMNS)
        .order_by("-created_at")[:limit]
    )


def offboardings_waiting(runs: QuerySet[LifecycleRun], limit: int = 20) -> list[LifecycleRun]:
    """Runs taking access away that wait for a system to answer: they finish by themselves."""
    return list(
        runs.filter(
            kind__in=LifecycleRun.ENDS_ACCESS, state=LifecycleRun.State.QUEUED, retries__gt=0
        )
        .select_related(*RUN_COLUMNS)
        .order_by("created_at")[:limit]
    )


def runs_overdue_count() -> int:
    return LifecycleRun.objects.overdue().count()


def events_recent(events: QuerySet[AuditEvent], limit: int = 10) -> list[AuditEvent]:
    return list(events.order_by("-id")[:limit])


def person_runs(person: Person, limit: int = 50) -> list[LifecycleRun]:
    return list(
        person.runs.select_related("requested_by")
        .annotate(
            steps_total=Count("steps"),
            steps_done=Count("steps", filter=Q(steps__state="done")),
        )
        .order_by("-created_at")[:limit]
    )


def person_events(person: Person, limit: int = 20) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(target=person.username).order_by("-id")[:limit])


def run_steps(run: LifecycleRun) -> list:
    return list(run.steps.order_by("position"))


def credentials_waiting(run: LifecycleRun) -> list[Credential]:
    """The run's secrets not yet revealed nor expired."""
    return list(
        run.credentials.filter(ciphertext__isnull=False, expires_at__gt=timezone.now())
        .defer("ciphertext")
        .order_by("kind")
    )


def credentials_revealed(run: LifecycleRun) -> Credential | None:
    return run.credentials.filter(revealed_at__isnull=False).order_by("-revealed_at").first()


def team_lead_names(team: Team) -> list[str]:
    """The team's leads: named here, or managing its group in a system (FreeIPA)."""
    names = set(team.leads.values_list("username", flat=True))
    for system in enabled():
        # A system that does not answer cannot add leads; the form shows who is known.
        with contextlib.suppress(AccessAdminError):
            names |= system.team_leads(team)
    return sorted(names)


@dataclass(frozen=True)
class TeamChange:
    field: str
    before: str
    after: str
    for_members: str


def team_change_preview(
    team: Team,
    *,
    group: str,
    leads: list[str],
    policy_arns: list[str],
    system_settings: dict[str, dict[str, Any]] | None = None,
) -> list[TeamChange]:
    """What saving these values would change, and what that means for the team's members."""
    members = team.members.exclude(status=Person.Status.OFFBOARDED).count()
    who = f"{members} current member{'s' if members != 1 else ''}"
    changes = []
    if group != team.freeipa_group:
        changes.append(
            TeamChange(
                "FreeIPA group", team.freeipa_group, group,
                f"people onboarded or moved in from now on join {group}; the {who} stay in "
                f"{team.freeipa_group} until they are moved",
            )
        )  # fmt: skip
    current_leads = team_lead_names(team)
    added_leads = sorted(set(leads) - set(current_leads))
    removed_leads = sorted(set(current_leads) - set(leads))
    if added_leads or removed_leads:
        effects = []
        if added_leads:
            effects.append(
                f"{', '.join(added_leads)} can see and act on the {who} and become member "
                f"managers of {group}"
            )
        if removed_leads:
            effects.append(
                f"{', '.join(removed_leads)} no longer see or act on the team's people and stop "
                f"managing {team.freeipa_group}"
            )
        changes.append(
            TeamChange(
                "Leads", ", ".join(current_leads) or "none", ", ".join(sorted(leads)) or "none",
                "; ".join(effects),
            )
        )  # fmt: skip
    before, after = set(team.iam_policy_arns), set(policy_arns)
    if before != after:
        gained = ", ".join(sorted(after - before)) or "none"
        lost = ", ".join(sorted(before - after)) or "none"
        changes.append(
            TeamChange(
                "IAM policies", ", ".join(sorted(before)) or "none", ", ".join(sorted(after))
                or "none",
                f"roles created from now on get them (added: {gained}; removed: {lost}); the "
                f"{who}' existing roles keep their policies until they are moved",
            )
        )  # fmt: skip
    values, problems = team_settings.settings_parse(system_settings)
    if problems:
        raise InvalidInput(" ".join(team_settings.settings_problems_text(problems)))
    for label, before_text, after_text in team_settings.settings_changes(team, values):
        changes.append(
            TeamChange(
                label, before_text, after_text,
                f"people onboarded or moved in from now on get {after_text}; the {who} keep "
                f"{before_text} until the team is applied to them",
            )
        )  # fmt: skip
    return changes


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    person: str = ""
    action: str = ""
    action_contains: str = ""  # part of an action's name: "offboard", "step."
    outcome: str = ""
    since: date | None = None
    until: date | None = None


def audit_search(where: AuditFilter) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.order_by("-at", "-id")
    if where.actor:
        events = events.filter(actor=where.actor)
    if where.person:
        events = events.filter(target=where.person)
    if where.action:
        events = events.filter(action=where.action)
    if where.action_contains:
        needle = where.action_contains.lower()
        # The few actions recorded, matched here: the filter is then an index look-up, not a
        # scan of every event's action for a part of it.
        matching = [action for action in audit_actions_recorded() if needle in action.lower()]
        events = events.filter(action__in=matching)
    if where.outcome:
        events = events.filter(outcome=where.outcome)
    if where.since:
        events = events.filter(at__gte=_day_start(where.since))
    if where.until:
        events = events.filter(at__lt=_day_start(where.until) + timedelta(days=1))
    return events


def audit_page(
    where: AuditFilter, *, before: int | None, size: int = 50
) -> tuple[list[AuditEvent], int | None]:
    """One page, newest first, and the event to continue after (None on the last page).

    Pages continue from an event rather than an offset: no count over the whole trail, and no
    deep OFFSET scans, however long the trail grows."""
    events = audit_search(where)
    if before:
        at = AuditEvent.objects.filter(pk=before).values_list("at", flat=True).first()
        if at is not None:
            events = events.filter(Q(at__lt=at) | Q(at=at, id__lt=before))
    rows = list(events[: size + 1])
    return rows[:size], rows[size - 1].id if len(rows) > size else None


# A loose index scan: each step jumps to the next action in the action index, so listing the
# few dozen actions recorded costs a few dozen index look-ups however many events there are.
_ACTIONS_RECORDED = """
WITH RECURSIVE found(action) AS (
    SELECT MIN(action) FROM onboarding_auditevent
    UNION ALL
    SELECT (SELECT MIN(action) FROM onboarding_auditevent WHERE action > found.action)
    FROM found WHERE found.action IS NOT NULL
)
SELECT action FROM found WHERE action IS NOT NULL
"""


def audit_actions_recorded() -> list[str]:
    """Every action the audit trail holds, in order."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIONS_RECORDED)
        return [action for (action,) in cursor.fetchall()]


@dataclass(frozen=True)
class FirstSteps:
    """What a new installation still lacks, for the dashboard's checklist."""

    team: bool
    lead: bool
    person: bool

    @property
    def done(self) -> bool:
        return self.team and self.lead and self.person


def first_steps() -> FirstSteps:
    """In one query: the dashboard asks on every load."""
    tables = (Team._meta.db_table, Team.leads.through._meta.db_table, Person._meta.db_table)
    # Table names from the models, never from input.
    checks = ", ".join(f"EXISTS (SELECT 1 FROM {table})" for table in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {checks}")
        team, lead, person = cursor.fetchone()
    return FirstSteps(team=bool(team), lead=bool(lead), person=bool(person))


def person_findings_open(person: Person) -> list[Finding]:
    """What reconciliation found about this person and has not seen settled."""
    return list(Finding.objects.open().filter(username=person.username).order_by("system", "kind"))


def run_steps_unchanged(run: LifecycleRun) -> set[str]:
    """The steps that found their work already done when checked (a repair's steps whose
    system held what it should): done without changing anything."""
    done = run.events.filter(action="step.do", outcome="succeeded", details__already_done=True)
    return set(done.values_list("details__step", flat=True))


RUN_WAITS_SHOWN = 20


def run_waits(run: LifecycleRun) -> tuple[int, list[AuditEvent]]:
    """How often the run's steps waited for a system (throttled, unreachable), and the newest
    of those waits, newest first."""
    waits = run.events.filter(action__in=("step.do", "step.undo"), outcome="retried")
    return waits.count(), list(waits.order_by("-id")[:RUN_WAITS_SHOWN])


def reconcile_last_pass() -> AuditEvent | None:
    """The newest reconciliation pass: when, by whom, what it found."""
    return AuditEvent.objects.filter(action="reconcile.pass").order_by("-at", "-id").first()


def audit_actions() -> list[str]:
    kinds = [kind for kind, _ in LifecycleRun.Kind.choices]
    verbs = [
        f"{kind}.{verb}" for kind in kinds for verb in ("request", "run", "resume", "rollback")
    ]
    return sorted(
        {
            *verbs,
            "step.do", "step.undo", "run.take_over", "run.time_limit", "credentials.reveal",
            "team.create", "team.change", "person.update", "login", "logout", "access.denied",
            "audit.export", "api_token.create", "api_token.revoke", "reconcile.finding",
            "reconcile.pass", "reconcile.request", "reconcile.settled", "review.open",
            "review.decide", "review.close", "review.remind", "review.escalate", "review.export",
        }
    )  # fmt: skip


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class PersonFindings:
    """One person's open findings, and whether a repair run may be asked for them now."""

    username: str
    findings: list[Finding]
    person: Person | None
    repairable: bool
    busy: bool

    @property
    def orphaned(self) -> bool:
        """Objects of someone AccessAdmin does not know, for an admin to remove or adopt."""
        return self.person is None and any(f.kind == Finding.Kind.ORPHAN for f in self.findings)


def findings_open_by_person() -> list[PersonFindings]:
    """The open findings, person by person (orphans and silent systems under their own name)."""
    findings = list(Finding.objects.open().order_by("username", "system", "subject"))
    names = {finding.username for finding in findings if finding.username}
    people = {person.username: person for person in Person.objects.filter(username__in=names)}
    busy = set(
        LifecycleRun.objects.filter(
            person__username__in=names, state__in=LifecycleRun.ACTIVE_STATES
        ).values_list("person__username", flat=True)
    )
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.username, []).append(finding)
    return [
        PersonFindings(
            username=username,
            findings=rows,
            person=people.get(username),
            repairable=username in people and any(row.kind in Finding.REPAIRABLE for row in rows),
            busy=username in busy,
        )
        for username, rows in grouped.items()
    ]


def findings_open_count() -> int:
    return Finding.objects.open().count()
