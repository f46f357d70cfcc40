import functools
import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from onboarding.errors import AuditIsAppendOnly, IllegalTransition


def _check_transition(thing: str, transitions: dict, current: str, wanted: str) -> None:
    if wanted not in transitions.get(current, ()):
        raise IllegalTransition(thing, current, wanted)


def _state_swap(row: models.Model, thing: str, state: str, fields: dict) -> bool:
    """Move a row with a ``state`` field, if legal, unless someone else moved it first."""
    _check_transition(thing, row.TRANSITIONS, row.state, state)
    changed = type(row).objects.filter(pk=row.pk, state=row.state).update(state=state, **fields)
    if changed:
        row.state = state
        for name, value in fields.items():
            setattr(row, name, value)
    return bool(changed)


class Team(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    freeipa_group = models.CharField(
        max_length=255, help_text="FreeIPA group every member of the team belongs to."
    )
    extra_groups = models.JSONField(
        default=list, blank=True, help_text="Further FreeIPA groups members get."
    )
    leads = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="led_teams")
    iam_policy_arns = models.JSONField(
        default=list, blank=True, help_text="Managed IAM policies attached to members' roles."
    )
    jupyterhub_group = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def freeipa_groups(self) -> list[str]:
        return [self.freeipa_group, *(g for g in self.extra_groups if g != self.freeipa_group)]


class Person(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        ONBOARDING = "onboarding", "Onboarding"
        ACTIVE = "active", "Active"
        MOVING = "moving", "Moving team"
        OFFBOARDING = "offboarding", "Offboarding"
        OFFBOARDED = "offboarded", "Offboarded"
        REINSTATING = "reinstating", "Reinstating"

    # A failed run leaves the person in the in-between status until it is resumed or rolled back.
    TRANSITIONS = {
        Status.NEW: {Status.ONBOARDING},
        Status.ONBOARDING: {Status.ACTIVE, Status.NEW, Status.OFFBOARDING},
        Status.ACTIVE: {Status.MOVING, Status.OFFBOARDING},
        Status.MOVING: {Status.ACTIVE, Status.OFFBOARDING},
        Status.OFFBOARDING: {Status.OFFBOARDED, Status.ACTIVE},
        Status.OFFBOARDED: {Status.REINSTATING},
        Status.REINSTATING: {Status.ACTIVE, Status.OFFBOARDED},
    }

    username = models.CharField(max_length=32, unique=True)
    first_name = models.CharField(max_length=128)
    last_name = models.CharField(max_length=128)
    email = models.EmailField()
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="members")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    uid_number = models.PositiveBigIntegerField(null=True, blank=True)
    gid_number = models.PositiveBigIntegerField(null=True, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    # Asked to be onboarded on start_date, not yet started: a mark on the person rather than a run
    # in a new state, so a run stays something a worker has or should have in hand.
    waits_for_start = models.BooleanField(default=False)
    # Who asked for that waiting onboarding: the run started on the day is theirs, so they are
    # told how it went and reveal its credentials.
    start_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["username"]
        indexes = [models.Index(fields=["team", "status"])]

    def __str__(self) -> str:
        return self.username

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def may_be_offboarded(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.ONBOARDING, self.Status.MOVING)

    @property
    def may_be_moved(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def may_be_reinstated(self) -> bool:
        return self.status == self.Status.OFFBOARDED

    def recorded(self, key: str) -> Any:
        """The newest value a finished step of this person's runs recorded under `key` (an id a
        system gave out, such as an access point's), or None."""
        step = (
            Step.objects.filter(run__person=self, state=Step.State.DONE, external_ids__has_key=key)
            .order_by("-finished_at", "-pk")
            .first()
        )
        return step.external_ids[key] if step else None

    def move_to(self, status: str) -> None:
        """Change status if the lifecycle allows it; saved with a compare-and-set. Staying put
        (a repair run leaves its person as they are) only checks they still are."""
        if status == self.status:
            if not Person.objects.filter(pk=self.pk, status=status).exists():
                current = Person.objects.values_list("status", flat=True).get(pk=self.pk)
                raise IllegalTransition(f"Person {self.username}", current, status)
            return
        _check_transition(f"Person {self.username}", self.TRANSITIONS, self.status, status)
        changed = Person.objects.filter(pk=self.pk, status=self.status).update(
            status=status, updated_at=timezone.now()
        )
        if not changed:
            current = Person.objects.values_list("status", flat=True).get(pk=self.pk)
            raise IllegalTransition(f"Person {self.username}", current, status)
        self.status = status


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
        return _state_swap(self, f"Run #{self.pk}", state, fields)

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
        return _state_swap(self, f"Step {self.name}", state, fields)


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


class FindingQuerySet(models.QuerySet):
    def open(self) -> "FindingQuerySet":
        return self.filter(resolved_at__isnull=True)


class Finding(models.Model):
    """Something reconciliation found that differs between what AccessAdmin believes and what a
    system holds; open until a pass no longer finds it."""

    class Kind(models.TextChoices):
        MISSING = "missing", "Missing"
        UNEXPECTED = "unexpected", "Unexpected"
        DIFFERS = "differs", "Differs"
        ORPHAN = "orphan", "Orphan"
        UNANSWERED = "unanswered", "System did not answer"

    # What a repair run puts right; orphans and silent systems are for a person to look at.
    REPAIRABLE = (Kind.MISSING, Kind.DIFFERS, Kind.UNEXPECTED)

    system = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Whose it is, or the name an orphan carries; empty for a system that did not answer.
    username = models.CharField(max_length=255, blank=True)
    # What the finding is about, as the system's inventory names it: "role", "access point".
    subject = models.CharField(max_length=255, blank=True)
    detail = models.TextField()
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["username", "system", "subject"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "kind", "username", "subject"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_finding_per_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.system} {self.username}: {self.detail}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.system, self.kind, self.username, self.subject)


def audit_key() -> bytes:
    """The key of the audit chain's links: derived from AUDIT_KEY, or else from SECRET_KEY."""
    return _audit_key_from((settings.AUDIT_KEY or settings.SECRET_KEY).encode())


@functools.lru_cache(maxsize=4)
def _audit_key_from(material: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"accessadmin audit chain"
    ).derive(material)


def audit_chain_name() -> str:
    return uuid.uuid4().hex[:16]


class AuditChain(models.Model):
    """The audit chain's name, fixed when the chain begins (the database's first migration, or
    its first event after the table was emptied) and kept apart from the events, so that head
    lines another database wrote are told apart and a rewritten or emptied chain is not."""

    name = models.CharField(max_length=16, unique=True, default=audit_chain_name)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditIsAppendOnly()

    def delete(self):
        raise AuditIsAppendOnly()


class AuditEvent(models.Model):
    """One thing that happened. Rows are only ever added; each is chained to the one before."""

    class Outcome(models.TextChoices):
        REQUESTED = "requested", "Requested"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        RETRIED = "retried", "Retried"
        DENIED = "denied", "Denied"

    class ChainVersion(models.IntegerChoices):
        PLAIN = 1, "SHA-256, no key (events written before migration 0007)"
        KEYED = 2, "HMAC-SHA256 with the audit key"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=255, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    details = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(
        LifecycleRun, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    chain_version = models.PositiveSmallIntegerField(
        choices=ChainVersion.choices, default=ChainVersion.KEYED
    )
    # How many events the chain holds up to this one; unique, so two writers can never both
    # chain to the same event. Empty for plain events.
    position = models.PositiveBigIntegerField(null=True, blank=True, unique=True)

    objects = AuditEventQuerySet.as_manager()

    GENESIS_HASH = "0" * 64

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The audit log filtered by action and outcome, newest first: one index range in
            # the page's order, however rare the pair.
            models.Index(
                fields=["action", "outcome", "-at", "-id"], name="audit_action_outcome_at"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditIsAppendOnly()
        # Linked here, with the key, while the chain is locked: the key never reaches the
        # database, its query text or its logs.
        with transaction.atomic(savepoint=False):
            self.previous_hash, length = self._chain_tip()
            self.position = length + 1
            self.chain_version = self.ChainVersion.KEYED
            self.hash = self.chain_hash()
            super().save(*args, **kwargs)

    @classmethod
    def _chain_tip(cls) -> tuple[str, int]:
        """Lock the chain until the transaction ends; return its newest hash and its length."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT tip_hash, tip_position FROM onboarding_audit_tip()")
                tip_hash, length = cursor.fetchone()
            return tip_hash or cls.GENESIS_HASH, length or 0
        # SQLite transactions begin IMMEDIATE (settings): this connection is the only writer.
        tip = cls.objects.order_by("-id").values_list("hash", "position").first()
        if tip is None:
            return cls.GENESIS_HASH, 0
        tip_hash, length = tip
        return tip_hash, length if length is not None else cls.objects.count()

    def delete(self, *args, **kwargs):
        raise AuditIsAppendOnly()

    def body_hash(self) -> str:
        """The event's own contents, hashed."""
        body = json.dumps(
            [
                self.at.isoformat(),
                self.actor,
                self.action,
                self.target,
                self.outcome,
                self.details,
                self.run_id,
            ],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(body.encode()).hexdigest()

    def chain_hash(self) -> str:
        """The link: the hash before this event, its place in the chain and its contents, hashed
        with the audit key (plain events: the previous hash and the contents, no key)."""
        if self.chain_version == self.ChainVersion.PLAIN:
            return hashlib.sha256((self.previous_hash + self.body_hash()).encode()).hexdigest()
        link = f"{self.chain_version}:{self.position}:{self.previous_hash}:{self.body_hash()}"
        return hmac.new(audit_key(), link.encode(), hashlib.sha256).hexdigest()


class AccessReview(models.Model):
    """A periodic check of who holds what: each lead confirms or revokes each of their members'
    access, as it stood when the review was opened. A review of no team covers every team."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200, blank=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="access_reviews"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="access_reviews_opened",
    )  # fmt: skip
    actor = models.CharField(max_length=150, help_text="Who opened it: a username or cli:<user>.")
    opened_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the admins were told the deadline passed with decisions missing (once per review).
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["team"], condition=Q(state="open"), name="one_open_review_per_team"
            ),
            # Among open reviews of every team (no team), `state` is the same: at most one.
            models.UniqueConstraint(
                fields=["state"],
                condition=Q(state="open", team__isnull=True),
                name="one_open_review_of_every_team",
            ),
        ]

    def __str__(self) -> str:
        return f"Access review #{self.pk} ({self.scope})"

    @property
    def scope(self) -> str:
        return f"team {self.team.name}" if self.team_id else "all teams"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN


class ReviewItem(models.Model):
    """One person in a review: what they held in each system when it opened, and the decision."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        REVOKED = "revoked", "Revoked"
        # They stopped being active by other means before anyone decided (offboarded, say).
        LEFT = "left", "Left meanwhile"

    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="items")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="review_items")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="review_items")
    # [{"system", "label", "answered", "held": [{"kind", "id", "detail"}], "notes", "error"}]
    holdings = models.JSONField(default=list, blank=True)
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    offboard_run = models.ForeignKey(
        LifecycleRun, null=True, blank=True, on_delete=models.PROTECT, related_name="review_items"
    )
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team__name", "person__username"]
        constraints = [
            models.UniqueConstraint(fields=["review", "person"], name="one_item_per_person")
        ]
        indexes = [models.Index(fields=["review", "decision"])]

    def __str__(self) -> str:
        return f"{self.person} in review #{self.review_id}: {self.decision}"

    @property
    def is_pending(self) -> bool:
        return self.decision == self.Decision.PENDING


# Kept in its own package; imported here so Django finds it with the app's other models.
from onboarding.enrolment.models import Enrolment  # noqa: E402, F401
