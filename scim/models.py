"""What an identity provider knows a person by: the SCIM id it was given, its userName and
externalId, and, until AccessAdmin knows the person's team, what it sent about them."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower

from onboarding.models import Person, Team


class ScimUser(models.Model):
    """One SCIM User. It has a person once they were onboarded; before that (no team named by a
    group membership or the team attribute) it waits, with what the identity provider sent.
    Deleting it offboards the person and hides it from SCIM; the person stays, restorable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_name = models.CharField(max_length=255, help_text="The identity provider's userName.")
    username = models.CharField(max_length=32, help_text="The FreeIPA username it maps to.")
    person = models.OneToOneField(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="scim_user"
    )
    external_id = models.CharField(max_length=255, blank=True, default="")
    given_name = models.CharField(max_length=128)
    family_name = models.CharField(max_length=128)
    email = models.CharField(max_length=254)
    # What the identity provider asked (None: nothing, which is active); once there is a person,
    # their own status says whether they have access.
    active = models.BooleanField(null=True, default=True)
    # The user as last sent, what AccessAdmin does not use included, to answer with it.
    attributes = models.JSONField(default=dict, blank=True)
    # The team a user waiting to be onboarded, or to come back, is to join.
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # userName is not case-exact (RFC 7643 §4.1.1), and FreeIPA folds usernames.
            models.UniqueConstraint(Lower("user_name"), name="scim_user_name_once"),
            models.UniqueConstraint(fields=["username"], name="scim_username_once"),
        ]

    def __str__(self) -> str:
        return self.user_name

    @property
    def waits(self) -> bool:
        """Known to the identity provider, not yet to AccessAdmin: no team was named."""
        return self.person_id is None and self.deleted_at is None


class ScimGroup(models.Model):
    """What an identity provider calls a team by, besides its name: its externalId."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="scim_group")
    external_id = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.team} ({self.external_id})"
