"""Teams and the people in them, with where a person may go from where they stand."""

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from onboarding.errors import IllegalTransition
from onboarding.models.base import transition_check


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
    # What each system declares a team holds there ({"postgres": {"roles": [...]}}), each value
    # checked by the system's TeamSetting.parse before it is stored (onboarding/team_settings.py).
    system_settings = models.JSONField(default=dict, blank=True)
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
    # The identity provider's own id for them (SCIM's externalId), matched on its next sync.
    external_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
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
        from onboarding.models.runs import Step  # runs.py imports this module

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
        transition_check(f"Person {self.username}", self.TRANSITIONS, self.status, status)
        changed = Person.objects.filter(pk=self.pk, status=self.status).update(
            status=status, updated_at=timezone.now()
        )
        if not changed:
            current = Person.objects.values_list("status", flat=True).get(pk=self.pk)
            raise IllegalTransition(f"Person {self.username}", current, status)
        self.status = status
