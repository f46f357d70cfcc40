"""The append-only, hash-chained audit trail and the key it is signed with."""

import functools
import hashlib
import hmac
import json
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from onboarding.errors import AuditIsAppendOnly
from onboarding.models.runs import LifecycleRun


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
