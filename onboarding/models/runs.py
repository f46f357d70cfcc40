"""Lifecycle runs, their steps and one-time credentials, the request count behind the rate limit,
and the sweeps beat records."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from onboarding.models.base import state_swap
from onboarding.models.people import Person


class LifecycleRunQuerySet(models.QuerySet):
    def overdue(self) -> "LifecycleRunQuerySet":
        """Runs no worker has in hand although one should: waiting past their due time (their
        message was lost), or held by a worker silent for LIFECYCLE_STALE_SECONDS."""
        late = timezone.now() - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS)
        not_sent_again_lately = Q(resent_at__isnull=True) | Q(resent_at__lt=late)
        return self.late_since(late).filter(~Q(worker="") | not_sent_again_lately)

    def late_since(self, when) -> "LifecycleRunQuerySet":
        """Runs no worker has had in hand since `when` although one should have: waiting since
        they were due, or held by a worker silent since then, whether beat sent them again or not
        (/healthz: overdue for longer than LIFECYCLE_STALE_SECONDS)."""
        waiting = Q(worker="") & (Q(due_at__lt=when) | Q(due_at__isnull=True, created_at__lt=when))
        silent = ~Q(worker="") & (Q(heartbeat_at__lt=when) | Q(heartbeat_at__isnull=True))
        return self.filter(state__in=LifecycleRun.ACTIVE_STATES).filter(waiting | silent)


class LifecycleRun(models.Model):
    class Kind(models.TextChoices):
        ONBOARD = "onboard", "Onboard"
        MOVE = "move", "Move team"
        OFFBOARD = "offboard", "Offboard"
        REINSTATE = "reinstate", "Reinstate"
        # What reconciliation found wrong made right: an active person's objects, an offboarded
        # person's leftovers.
        REPAIR = "repair", "Repair"
        REPAIR_OFFBOARDED = "repair_offboard", "Repair leftovers"
        # An active person's password and OTP token issued anew (lost token, leaked password).
        RESET = "reset", "Reset credentials"

    REPAIRS = (Kind.REPAIR, Kind.REPAIR_OFFBOARDED)
    # Runs that take access away: never held back by anyone's request limit.
    ENDS_ACCESS = (Kind.OFFBOARD, Kind.REPAIR_OFFBOARDED)

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        ROLLING_BACK = "rolling_back", "Rolling back"
        ROLLED_BACK = "rolled_back", "Rolled back"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING, State.ROLLING_BACK)
    TRANSITIONS = {
        State.QUEUED: {State.RUNNING, State.ROLLING_BACK, State.FAILED},
        State.RUNNING: {State.SUCCEEDED, State.FAILED, State.QUEUED},
        State.FAILED: {State.QUEUED, State.ROLLING_BACK},
        State.ROLLING_BACK: {State.ROLLED_BACK, State.FAILED},
        State.SUCCEEDED: set(),
        State.ROLLED_BACK: set(),
    }

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(max_length=150, help_text="Who asked: a username or cli:<user>.")
    params = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True)
    # A token new at every claim and take-over: a worker writes about the run, and calls a
    # system for it, only while the run still carries its token (a fencing token).
    claim = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When a waiting run (queued, or asked to roll back) should be in a worker's hands; past it,
    # beat sends its message again. The claim makes a duplicate message harmless.
    due_at = models.DateTimeField(null=True, blank=True)
    # Transient failures since the run was last asked for, across messages and workers; past
    # CELERY_TASK_MAX_RETRIES the run fails.
    retries = models.PositiveIntegerField(default=0)
    # When beat last sent an overdue run's message again (not again before a stale period).
    resent_at = models.DateTimeField(null=True, blank=True)

    # Not a column: whether the broker took the run's message when it was last sent (None: not
    # sent from this process). A run whose message was not taken still starts, once beat sends it.
    dispatched: bool | None = None

    objects = LifecycleRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(state__in=["queued", "running", "rolling_back"]),
                name="one_active_run_per_person",
            )
        ]
        indexes = [
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["state", "due_at"], name="run_state_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.person} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def never_gives_up(self) -> bool:
        """Taking access away is retried for as long as a system does not answer (rolling it
        back, which gives access again, is not)."""
        return self.kind in self.ENDS_ACCESS and self.state != self.State.ROLLING_BACK

    @property
    def waits_on_a_system(self) -> bool:
        """Queued again after a system did not answer, until its next try."""
        return self.state == self.State.QUEUED and self.retries > 0

    @property
    def is_overdue(self) -> bool:
        """Active, but nobody has it in hand although somebody should (asked of the database,
        by the one rule of `LifecycleRunQuerySet.overdue`)."""
        return self.is_active and LifecycleRun.objects.overdue().filter(pk=self.pk).exists()

    def move_to(self, state: str, **fields) -> bool:
        """Compare-and-set the state; False when another process changed it first."""
        return state_swap(self, f"Run #{self.pk}", state, fields)

    @property
    def person_status_after(self) -> str:
        return PERSON_STATUS[self.kind][1]

    @property
    def person_status_rolled_back(self) -> str:
        return PERSON_STATUS[self.kind][2]


class LifecycleRequest(models.Model):
    """One request that counts against its actor's LIFECYCLE_REQUESTS_PER_HOUR: a run asked for
    now, a joiner scheduled for a later start date, or a change of dates. Rows older than an hour
    count for nothing and are forgotten at the actor's next request."""

    actor = models.CharField(max_length=150)
    what = models.CharField(max_length=32)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["actor", "at"], name="request_actor_at")]

    def __str__(self) -> str:
        return f"{self.what} by {self.actor} at {self.at:%Y-%m-%d %H:%M:%S}"


class Sweep(models.Model):
    """When beat's sweep (sending overdue runs again) last ran: one row, kept in the database so
    /healthz in any web process sees a sweeper that stopped."""

    ran_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"sweep at {self.ran_at:%Y-%m-%d %H:%M:%S}"


# Where a person stands while a run of each kind is under way, after it succeeds, and after it is
# rolled back.
PERSON_STATUS = {
    LifecycleRun.Kind.ONBOARD: (
        Person.Status.ONBOARDING, Person.Status.ACTIVE, Person.Status.NEW,
    ),
    LifecycleRun.Kind.OFFBOARD: (
        Person.Status.OFFBOARDING, Person.Status.OFFBOARDED, Person.Status.ACTIVE,
    ),
    LifecycleRun.Kind.MOVE: (Person.Status.MOVING, Person.Status.ACTIVE, Person.Status.ACTIVE),
    LifecycleRun.Kind.REINSTATE: (
        Person.Status.REINSTATING, Person.Status.ACTIVE, Person.Status.OFFBOARDED,
    ),
    LifecycleRun.Kind.REPAIR: (Person.Status.ACTIVE,) * 3,
    LifecycleRun.Kind.REPAIR_OFFBOARDED: (Person.Status.OFFBOARDED,) * 3,
    LifecycleRun.Kind.RESET: (Person.Status.ACTIVE,) * 3,
}  # fmt: skip


class Step(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        UNDOING = "undoing", "Undoing"
        UNDONE = "undone", "Undone"

    TRANSITIONS = {
        State.PENDING: {State.RUNNING, State.FAILED, State.UNDONE},
        State.RUNNING: {State.DONE, State.FAILED, State.PENDING},
        State.FAILED: {State.RUNNING, State.UNDOING},
        State.DONE: {State.UNDOING},
        State.UNDOING: {State.UNDONE, State.FAILED},
        State.UNDONE: {State.RUNNING},
    }

    run = models.ForeignKey(LifecycleRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    external_ids = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="step_name_unique_in_run")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    def move_to(self, state: str, **fields) -> bool:
        """Compare-and-set the state; False when another process changed it first."""
        return state_swap(self, f"Step {self.name}", state, fields)


class Credential(models.Model):
    """A secret handed to the person who asked for a run, encrypted, readable once, then purged."""

    class Kind(models.TextChoices):
        TEMPORARY_PASSWORD = "temporary_password", "Temporary password"
        OTP_ENROLMENT = "otp_enrolment", "OTP enrolment URI"

    run = models.ForeignKey(LifecycleRun, on_delete=models.CASCADE, related_name="credentials")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    ciphertext = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revealed_at = models.DateTimeField(null=True, blank=True)
    revealed_by = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "kind"], name="one_credential_per_kind_per_run")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for run #{self.run_id}"

    @property
    def available(self) -> bool:
        return self.ciphertext is not None and self.expires_at > timezone.now()
