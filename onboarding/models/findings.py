"""What reconciliation found: drift, leftovers and orphans, until they are settled."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


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
