"""Keeping house: purging what has expired (beat jobs), and the few counts that say how the
engine is doing (read by /metrics).

Every count is one query over indexed columns, or over the work in hand or the last hour, so a
scrape stays cheap however long the audit trail grows.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Count, Min
from django.db.models.fields.json import KT
from django.utils import timezone

from onboarding.models import AuditEvent, Credential, LifecycleRun, Step
from onboarding.plans import plan_for

State = LifecycleRun.State

# How far back the "recent" counts look.
RECENT = timedelta(hours=1)
# Logins are in the audit trail; django-axes' own logs only serve its lockouts and admin pages.
LOGIN_RECORDS_DAYS = 30
# A step of a system no longer enabled, or of a plan that lost it.
UNKNOWN_SYSTEM = "unknown"
# Runs whose steps still matter: in hand, waiting, or failed and waiting for a person.
OPEN_RUN_STATES = (*LifecycleRun.ACTIVE_STATES, State.FAILED)


def sessions_purge_expired() -> None:
    """What `manage.py clearsessions` does: the session engine drops the expired sessions."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


def login_records_purge_old(*, age_days: int = LOGIN_RECORDS_DAYS) -> int:
    """django-axes' records: failed attempts past the cool-off (they lock nobody out any more;
    axes itself only clears them for the username that tries again), and its access and failure
    logs older than `age_days`. Returns how many rows went."""
    cooled_off = timezone.now() - settings.AXES_COOLOFF_TIME
    attempts, _ = AccessAttempt.objects.filter(attempt_time__lte=cooled_off).delete()
    logs = AxesProxyHandler.reset_logs(age_days=age_days)
    failure_logs = AxesProxyHandler.reset_failure_logs(age_days=age_days)
    return attempts + logs + failure_logs


def step_systems() -> dict[str, str]:
    """Each step name of the enabled systems' plans, and its system."""
    return {step.name: step.system for kind in LifecycleRun.Kind for step in plan_for(kind).steps}


def systems_known() -> list[str]:
    return sorted(set(step_systems().values()))


def runs_by_kind_and_state() -> dict[tuple[str, str], int]:
    """Every (kind, state), zeros included. One GROUP BY over the runs: a row per request, not per
    event, so it grows with people, not with the audit trail."""
    counts = {(kind, state): 0 for kind in LifecycleRun.Kind for state in State}
    rows = (
        LifecycleRun.objects.order_by()
        .values("kind", "state")
        .annotate(n=Count("pk"))
        .values_list("kind", "state", "n")
    )
    for kind, state, n in rows:
        counts[(kind, state)] = n
    return counts


def steps_open_by_system_and_state() -> dict[tuple[str, str], int]:
    """Steps of the runs not finished (queued, running, rolling back or failed), by system and
    state, zeros included: the work in hand, not every step ever done."""
    systems = step_systems()
    counts = {(system, state): 0 for system in systems_known() for state in Step.State}
    rows = (
        Step.objects.filter(run__state__in=OPEN_RUN_STATES)
        .order_by()
        .values("name", "state")
        .annotate(n=Count("pk"))
        .values_list("name", "state", "n")
    )
    for name, state, n in rows:
        key = (systems.get(name, UNKNOWN_SYSTEM), state)
        counts[key] = counts.get(key, 0) + n
    return counts


def step_durations_recent() -> dict[str, list[float]]:
    """Seconds each step done or failed in the last hour took (its last attempt), by system.

    Steps have no index on their times; the runs that did a step in the last hour are found
    through the audit trail's index on `at` instead."""
    since = timezone.now() - RECENT
    runs_recently_at_work = AuditEvent.objects.filter(
        at__gte=since, action="step.do", run__isnull=False
    ).values("run_id")
    rows = Step.objects.filter(
        run_id__in=runs_recently_at_work,
        state__in=(Step.State.DONE, Step.State.FAILED),
        started_at__isnull=False,
        finished_at__gte=since,
    ).values_list("name", "started_at", "finished_at")
    systems = step_systems()
    durations: dict[str, list[float]] = {system: [] for system in systems_known()}
    for name, started_at, finished_at in rows:
        seconds = max((finished_at - started_at).total_seconds(), 0.0)
        durations.setdefault(systems.get(name, UNKNOWN_SYSTEM), []).append(seconds)
    return durations


def step_setbacks_recent() -> dict[tuple[str, str, str], int]:
    """(system, "do" or "undo", "failed" or "retried") -> how many step attempts ended so in the
    last hour, from the audit trail's `step.do` and `step.undo` events; zeros included."""
    since = timezone.now() - RECENT
    outcomes = (AuditEvent.Outcome.FAILED, AuditEvent.Outcome.RETRIED)
    counts = {
        (system, action, outcome): 0
        for system in systems_known()
        for action in ("do", "undo")
        for outcome in outcomes
    }
    rows = (
        AuditEvent.objects.filter(
            at__gte=since, action__in=("step.do", "step.undo"), outcome__in=outcomes
        )
        .order_by()
        .annotate(step=KT("details__step"))
        .values("step", "action", "outcome")
        .annotate(n=Count("pk"))
        .values_list("step", "action", "outcome", "n")
    )
    systems = step_systems()
    for step, action, outcome, n in rows:
        key = (systems.get(step, UNKNOWN_SYSTEM), action.removeprefix("step."), outcome)
        counts[key] = counts.get(key, 0) + n
    return counts


def credentials_waiting_count() -> int:
    """Temporary passwords and OTP enrolments not yet revealed nor expired."""
    return Credential.objects.filter(
        ciphertext__isnull=False, expires_at__gt=timezone.now()
    ).count()


def audit_events_total() -> int:
    """The newest audit event's id: events are only ever added, so this is their number (give or
    take ids a rolled-back transaction used up), read from the primary key's index instead of a
    COUNT(*) over the whole trail."""
    return AuditEvent.objects.order_by("-id").values_list("pk", flat=True).first() or 0


def heartbeat_oldest_age() -> float:
    """Seconds since the most silent worker holding a run last said it was alive; 0 when no
    worker holds a run."""
    oldest = (
        LifecycleRun.objects.filter(state__in=(State.RUNNING, State.ROLLING_BACK))
        .exclude(worker="")
        .aggregate(oldest=Min("heartbeat_at"))["oldest"]
    )
    if oldest is None:
        return 0.0
    return max((timezone.now() - oldest).total_seconds(), 0.0)
