"""Bearer tokens, and the requests they made with an Idempotency-Key."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from onboarding.models import LifecycleRun, Team


class ApiToken(models.Model):
    """A named bearer token with an admin's or one team's lead's rights. Only its SHA-256 is
    kept: the token itself is shown once, when it is made. It belongs to its owner, a directory
    account that must hold the role's rights whenever it is used, or, with no owner, it is a
    service token of the platform admins."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Platform admin"
        LEAD = "lead", "Team lead"

    class Scope(models.TextChoices):
        API = "api", "REST API"
        SCIM = "scim", "SCIM provisioning"

    # Never reused, even once revoked: the audit trail names tokens by it.
    name = models.SlugField(max_length=64, unique=True)
    role = models.CharField(max_length=8, choices=Role.choices)
    # Where it is accepted: an identity provider's token never drives the REST API, nor the reverse.
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.API)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="api_tokens"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to tell it.")
    owner = models.CharField(
        max_length=150, blank=True,
        help_text="The directory account it acts for; empty: a service token of the admins.",
    )  # fmt: skip
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role="admin", team__isnull=True) | Q(role="lead", team__isnull=False),
                name="api_token_lead_has_a_team",
            ),
            models.CheckConstraint(
                condition=~Q(scope="scim") | Q(role="admin"),
                name="api_token_scim_is_admin",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def actor(self) -> str:
        """Who the audit trail and the rate limit say acted."""
        return f"{self.scope}:{self.name}"

    @property
    def is_service(self) -> bool:
        return not self.owner

    @property
    def owner_display(self) -> str:
        return self.owner or "platform admins (service token)"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class IdempotencyKey(models.Model):
    """The first accepted answer to a token's request with this key, replayed to its retries."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the path and the body.")
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    run = models.ForeignKey(LifecycleRun, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once_per_token")
        ]
        indexes = [models.Index(fields=["token", "created_at"])]

    def __str__(self) -> str:
        return f"{self.key} ({self.token})"
