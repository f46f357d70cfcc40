from __future__ import annotations

from django.db import models
from django.utils import timezone

from onboarding.models import LifecycleRun, Person


class Enrolment(models.Model):
    """One link: only the digest of its token is kept, the token itself goes to the person."""

    class State(models.TextChoices):
        OPEN = "open", "Waiting for the person"
        USED = "used", "Used"
        EXPIRED = "expired", "Expired"
        ENDED = "ended", "Ended"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="enrolments")
    run = models.ForeignKey(LifecycleRun, on_delete=models.CASCADE, related_name="enrolments")
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_because = models.CharField(max_length=200, blank=True)

    class Meta:
        app_label = "onboarding"
        indexes = [models.Index(fields=["person", "used_at", "ended_at"])]

    def __str__(self) -> str:
        return f"Enrolment of {self.person.username} for run #{self.run_id}"

    @property
    def state(self) -> str:
        if self.used_at is not None:
            return self.State.USED
        if self.ended_at is not None:
            return self.State.ENDED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.OPEN
