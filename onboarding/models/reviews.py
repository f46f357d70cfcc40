"""Access reviews: a lead confirms or revokes what each of their people holds."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from onboarding.models.people import Person, Team
from onboarding.models.runs import LifecycleRun


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
