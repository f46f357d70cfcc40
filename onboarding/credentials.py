"""One-time credentials: encrypted at rest, shown once to the person who asked, then gone."""

import base64
import functools
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.errors import CredentialsGone
from onboarding.models import Credential, LifecycleRun


def _fernet() -> Fernet:
    return _fernet_for((settings.CREDENTIALS_KEY or settings.SECRET_KEY).encode())


@functools.lru_cache(maxsize=4)
def _fernet_for(material: bytes) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"accessadmin one-time credentials"
    ).derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


def credential_store(*, run: LifecycleRun, kind: str, secret: str) -> None:
    """Keep a secret for the requester; a newer one for the same run replaces the old."""
    expires_at = timezone.now() + timedelta(seconds=settings.CREDENTIALS_TTL_SECONDS)
    Credential.objects.bulk_create(
        [
            Credential(
                run=run,
                kind=kind,
                ciphertext=_fernet().encrypt(secret.encode()),
                expires_at=expires_at,
            )
        ],
        update_conflicts=True,
        unique_fields=["run", "kind"],
        update_fields=["ciphertext", "expires_at", "revealed_at", "revealed_by"],
    )


def credentials_reveal(*, run: LifecycleRun, actor: str) -> dict[str, str]:
    """Decrypt and destroy every credential of the run; a second call finds nothing."""
    with transaction.atomic():
        credentials = list(
            Credential.objects.select_for_update().filter(
                run=run, ciphertext__isnull=False, expires_at__gt=timezone.now()
            )
        )
        if not credentials:
            raise CredentialsGone(
                f"The credentials of run #{run.pk} were already revealed or have expired. "
                "Reset the person's password and OTP token to issue new ones."
            )
        now = timezone.now()
        revealed = {}
        for credential in credentials:
            try:
                revealed[credential.kind] = _fernet().decrypt(bytes(credential.ciphertext)).decode()
            except InvalidToken:
                raise CredentialsGone(
                    "The credentials cannot be decrypted: the encryption key changed."
                ) from None
        Credential.objects.filter(pk__in=[c.pk for c in credentials]).update(
            ciphertext=None, revealed_at=now, revealed_by=actor
        )
        audit_record(
            actor=actor,
            action="credentials.reveal",
            target=run.person.username,
            outcome="succeeded",
            details={"run": run.pk, "kinds": sorted(revealed)},
            run=run,
        )
    return revealed


def credentials_read(*, run: LifecycleRun) -> dict[str, str]:
    """The run's waiting secrets, decrypted but kept: for the person's own enrolment page."""
    waiting = Credential.objects.filter(
        run=run, ciphertext__isnull=False, expires_at__gt=timezone.now()
    )
    try:
        return {c.kind: _fernet().decrypt(bytes(c.ciphertext)).decode() for c in waiting}
    except InvalidToken:
        raise CredentialsGone(
            "The credentials cannot be decrypted: the encryption key changed."
        ) from None


def credentials_keep_until(*, run: LifecycleRun, until) -> None:
    """Let the run's waiting secrets wait until then (an enrolment link's life)."""
    Credential.objects.filter(run=run, ciphertext__isnull=False).update(expires_at=until)


def credentials_destroy(*, run: LifecycleRun, by: str) -> None:
    """Erase the run's secrets once they have served (a completed enrolment)."""
    Credential.objects.filter(run=run, ciphertext__isnull=False).update(
        ciphertext=None, revealed_at=timezone.now(), revealed_by=by
    )


def credentials_purge_expired() -> int:
    return Credential.objects.filter(
        ciphertext__isnull=False, expires_at__lte=timezone.now()
    ).update(ciphertext=None)
