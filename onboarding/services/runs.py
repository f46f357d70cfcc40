"""What every request shares (the actor's request limit, starting a run and sending it once
committed), and resuming, rolling back and requeueing a run that stopped."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.enrolment.service import enrolments_end
from onboarding.errors import IllegalTransition, InvalidInput, RunInProgress, TooManyRequests
from onboarding.models import PERSON_STATUS, LifecycleRequest, LifecycleRun, Person
from onboarding.runner import PlannedChange, run_dispatch, run_steps_create
from onboarding.runner import run_resume_preview as _run_resume_preview
from onboarding.runner import run_rollback_preview as _run_rollback_preview

Kind = LifecycleRun.Kind
State = LifecycleRun.State


# Who acts when AccessAdmin itself does something (beat's reconciliation pass).
SYSTEM_ACTOR = "accessadmin"


def status_word(person: Person) -> str:
    return person.get_status_display().lower()


def _dispatch_on_commit(run: LifecycleRun, *, rolling_back: bool = False) -> None:
    """Send the run's message once it is committed; `run.dispatched` says whether the broker
    took it (when it did not, beat sends it again once the broker is back)."""

    def send() -> None:
        run.dispatched = run_dispatch(run.pk, rolling_back=rolling_back)

    transaction.on_commit(send)


# What a person in the middle of a run of each kind is going through, in words.
RUN_IN_WORDS = {
    LifecycleRun.Kind.ONBOARD: "being onboarded",
    LifecycleRun.Kind.MOVE: "being moved to another team",
    LifecycleRun.Kind.OFFBOARD: "being offboarded",
    LifecycleRun.Kind.REINSTATE: "being reinstated",
    LifecycleRun.Kind.REPAIR: "being repaired",
    LifecycleRun.Kind.REPAIR_OFFBOARDED: "having their leftovers removed",
    LifecycleRun.Kind.RESET: "having their password and OTP token reset",
}


def no_run_in_progress_check(person: Person) -> None:
    active = person.runs.filter(state__in=LifecycleRun.ACTIVE_STATES).first()
    if active is not None:
        doing = RUN_IN_WORDS.get(active.kind, "in the middle of a run")
        raise RunInProgress(
            f"{person.username} is already {doing}: run #{active.pk} is in progress; wait for "
            "it to finish."
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


# Runs that end a person's open enrolment link, and what the link then says.
ENDS_ENROLMENT = {
    LifecycleRun.Kind.OFFBOARD: "your access was ended",
    LifecycleRun.Kind.RESET: "your credentials were reset again, and a newer link is on its way",
}


def run_start(
    *, person: Person, kind: str, actor: str, requested_by=None, params=None, charge: bool = True
) -> LifecycleRun:
    """Start a run of `kind` for them. It counts against the actor's request limit unless it
    takes access away, or `charge` is False (it was counted when it was asked for)."""
    no_run_in_progress_check(person)
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
            if kind in ENDS_ENROLMENT:
                enrolments_end(person=person, because=ENDS_ENROLMENT[kind])
            audit_record(
                actor=actor, action=f"{kind}.request", target=person.username,
                outcome="requested", details={"run": run.pk, **(params or {})}, run=run,
            )  # fmt: skip
            _dispatch_on_commit(run)
    except (IntegrityError, IllegalTransition):
        # Another request for this person got there first.
        raise RunInProgress(f"{person.username} already has a run in progress.") from None
    return run


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
