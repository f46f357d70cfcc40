"""Whether the engine does its work on time, for /healthz and /metrics: a leaver's access must
end on the day, so a stopped sweeper, runs nobody takes and end dates passed unheeded are
unhealthy; an offboarding waiting on a system that does not answer is degraded (it finishes by
itself once the system answers). Each count is one indexed query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from onboarding.models import LifecycleRun, Person, Sweep

# The sweeper is late once it missed this many of its periods.
SWEEPS_MISSED = 3

OK, DEGRADED, UNHEALTHY = "ok", "degraded", "unhealthy"
Status = Person.Status


@dataclass(frozen=True)
class EngineHealth:
    swept_at: datetime | None
    sweeper_late: bool
    runs_late: int
    leavers_late: int
    offboardings_waiting: int

    @property
    def problems(self) -> list[str]:
        problems = []
        if self.sweeper_late:
            problems.append(
                f"the sweeper has not run for {SWEEPS_MISSED} periods of "
                f"LIFECYCLE_SWEEP_SECONDS={settings.LIFECYCLE_SWEEP_SECONDS} (is beat running?)"
            )
        if self.runs_late:
            problems.append(
                f"{self.runs_late} run(s) overdue for longer than "
                f"LIFECYCLE_STALE_SECONDS={settings.LIFECYCLE_STALE_SECONDS} (are workers up?)"
            )
        if self.leavers_late:
            problems.append(
                f"{self.leavers_late} person(s) past their end date with no offboarding started"
            )
        return problems

    @property
    def status(self) -> str:
        if self.problems:
            return UNHEALTHY
        return DEGRADED if self.offboardings_waiting else OK

    def as_dict(self) -> dict:
        return {
            "engine": self.status,
            "sweeper_last_run": self.swept_at.isoformat() if self.swept_at else None,
            "runs_overdue_long": self.runs_late,
            "leavers_late": self.leavers_late,
            "offboardings_waiting": self.offboardings_waiting,
            "problems": self.problems,
        }


def sweep_last_at() -> datetime | None:
    return Sweep.objects.values_list("ran_at", flat=True).first()


def leavers_late() -> int:
    """People whose end date has come, a couple of `lifecycle_due` passes ago, and whose
    offboarding has not started."""
    grace = timedelta(seconds=2 * settings.LIFECYCLE_DUE_SECONDS)
    came = timezone.localdate(timezone.now() - grace)
    return (
        Person.objects.filter(end_date__lte=came)
        .exclude(status__in=(Status.NEW, Status.OFFBOARDING, Status.OFFBOARDED))
        .count()
    )


def offboardings_waiting() -> int:
    """Offboardings under way that a system's transient failure sent back to wait."""
    return LifecycleRun.objects.filter(
        kind__in=LifecycleRun.ENDS_ACCESS, state__in=LifecycleRun.ACTIVE_STATES, retries__gt=0
    ).count()


def engine_health() -> EngineHealth:
    now = timezone.now()
    swept_at = sweep_last_at()
    # A database no sweep was ever recorded in is a new one: late runs say whether beat is missing.
    sweeper_late = swept_at is not None and swept_at < now - timedelta(
        seconds=SWEEPS_MISSED * settings.LIFECYCLE_SWEEP_SECONDS
    )
    stale = timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS)
    return EngineHealth(
        swept_at=swept_at,
        sweeper_late=sweeper_late,
        runs_late=LifecycleRun.objects.late_since(now - 2 * stale).count(),
        leavers_late=leavers_late(),
        offboardings_waiting=offboardings_waiting(),
    )
