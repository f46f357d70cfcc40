"""Issuing, ending and completing enrolment links.

A link's token is e-mailed once and stored only as a digest. Opening it shows the person the OTP
token AccessAdmin created for them (the key is read from the run's encrypted credentials, which
stay put until the link is used); completing it checks their code against that key here, then
has FreeIPA change the password *as the person*, with the temporary password and their code, so
the new password is theirs and not expired. Under a grace limit of 0 FreeIPA refuses that login
with the expired temporary password; when AccessAdmin is a password-sync manager
(FREEIPA_PASS_SYNC) it then checks the password against the person's policy and sets it itself,
which FreeIPA stores unexpired. Every refusal is audited with the address it came
from, and an address that keeps guessing is refused for a while.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from onboarding.audit import audit_record
from onboarding.credentials import credentials_destroy, credentials_keep_until, credentials_read
from onboarding.enrolment.models import Enrolment
from onboarding.errors import (
    AccessAdminError,
    DownstreamError,
    InvalidInput,
    PasswordRefused,
    PermanentError,
)
from onboarding.models import AuditEvent, Credential, LifecycleRun, Person
from onboarding.systems import registry

# ipa_pwd.c:686-701, IPAPWD_POLICY_PWD_TOO_YOUNG's text.
TOO_SOON = "Too soon to change password"
# Runs that hand a person new credentials.
ISSUING_KINDS = (LifecycleRun.Kind.ONBOARD, LifecycleRun.Kind.RESET)
REFUSED = "enrolment.refused"
ANONYMOUS = "anonymous"
# A code from the step before or after the current one still counts: phone clocks drift.
CODE_WINDOW_STEPS = 1


class EnrolmentRefused(InvalidInput):
    """What the person sent cannot complete the enrolment; `field` is the input at fault, or ""
    for the link as a whole. Nothing was changed in FreeIPA."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class EnrolmentUnavailable(AccessAdminError):
    """FreeIPA would not take the change for a reason the person cannot fix; `reason` is for the
    audit trail, the message for the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class EnrolmentSecrets:
    otp_uri: str
    otp_key: str


def enrolment_by_email() -> bool:
    return settings.ENROLMENT_BY_EMAIL and bool(settings.EMAIL_HOST)


def enrolment_applies(run: LifecycleRun) -> bool:
    """Whether this run's credentials go to the person by link rather than through a person."""
    return enrolment_by_email() and run.kind in ISSUING_KINDS and bool(run.person.email)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def enrolment_link(token: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/enrol/{token}/"


def enrolment_issue(*, run: LifecycleRun) -> str:
    """A new link for the run's person, ending any older one; returns the token, which is not
    kept anywhere. The run's credentials wait as long as the link does."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    expires_at = now + timedelta(hours=settings.ENROLMENT_TTL_HOURS)
    with transaction.atomic():
        enrolments_end(person=run.person, because="a newer link was sent")
        enrolment = Enrolment.objects.create(
            person=run.person, run=run, token_digest=_digest(token), expires_at=expires_at
        )
        credentials_keep_until(run=run, until=expires_at)
        audit_record(
            actor="accessadmin", action="enrolment.issued", target=run.person.username,
            outcome="succeeded", run=run,
            details={"enrolment": enrolment.pk, "expires": expires_at.isoformat()},
        )  # fmt: skip
    return token


def enrolments_end(*, person: Person, because: str) -> int:
    """End the person's open links (an offboarding, a newer reset); returns how many."""
    open_links = Enrolment.objects.filter(
        person=person, used_at__isnull=True, ended_at__isnull=True
    )
    return open_links.update(ended_at=timezone.now(), ended_because=because)


def enrolment_find(token: str) -> Enrolment | None:
    if not token or len(token) > 128:
        return None
    return (
        Enrolment.objects.select_related("person", "run")
        .filter(token_digest=_digest(token))
        .first()
    )


def enrolment_secrets(enrolment: Enrolment) -> EnrolmentSecrets:
    """The OTP token to show the person; only while the link is open."""
    if enrolment.state != Enrolment.State.OPEN:
        raise EnrolmentRefused(enrolment_closed_message(enrolment))
    uri = credentials_read(run=enrolment.run).get(Credential.Kind.OTP_ENROLMENT, "")
    if not uri:
        raise EnrolmentUnavailable(
            "the run's credentials are gone",
            "This link has nothing left to show: ask your team lead or an admin to reset your "
            "credentials, which sends you a new link.",
        )
    return EnrolmentSecrets(otp_uri=uri, otp_key=pyotp.parse_uri(uri).secret)


def enrolment_closed_message(enrolment: Enrolment) -> str:
    state = enrolment.state
    if state == Enrolment.State.USED:
        return (
            f"This link was used on {timezone.localtime(enrolment.used_at):%Y-%m-%d at %H:%M}: "
            "your password is set. Log in with it and a code from your authenticator app."
        )
    if state == Enrolment.State.EXPIRED:
        return (
            "This link has expired. Ask your team lead or an admin to reset your credentials; "
            "you will get a new link."
        )
    return (
        f"This link no longer works: {enrolment.ended_because}. Use the newest link you were "
        "sent, or ask your team lead or an admin."
    )


def enrolment_guessing(address: str) -> bool:
    """Whether this address has been refused too often lately to be answered now."""
    since = timezone.now() - timedelta(seconds=settings.ENROLMENT_FAILURE_WINDOW_SECONDS)
    refusals = AuditEvent.objects.filter(action=REFUSED, at__gte=since)
    return refusals.filter(**{"details__from": address}).count() >= settings.ENROLMENT_FAILURE_LIMIT


def enrolment_refusal_record(*, address: str, reason: str, enrolment: Enrolment | None = None):
    audit_record(
        actor=enrolment.person.username if enrolment else ANONYMOUS,
        action=REFUSED,
        target=enrolment.person.username if enrolment else "",
        outcome="failed",
        details={"from": address, "reason": reason}
        | ({"enrolment": enrolment.pk} if enrolment else {}),
        run=enrolment.run if enrolment else None,
    )


def enrolment_complete(
    *, enrolment: Enrolment, code: str, password: str, password_again: str, address: str
) -> None:
    """Check the code and passwords, then change the password as the person; the link is used
    once FreeIPA has taken it. Raises EnrolmentRefused (their input) or EnrolmentUnavailable."""
    code = code.strip().replace(" ", "")
    if not password:
        raise EnrolmentRefused("Choose a new password.", field="password")
    if password != password_again:
        raise EnrolmentRefused(
            "The two passwords are not the same; type the new password twice.",
            field="password_again",
        )
    totp = pyotp.parse_uri(enrolment_secrets(enrolment).otp_uri)
    if not (code.isdigit() and len(code) == totp.digits) or not totp.verify(
        code, valid_window=CODE_WINDOW_STEPS
    ):
        enrolment_refusal_record(address=address, reason="wrong code", enrolment=enrolment)
        raise EnrolmentRefused(
            "That is not the current code of this token: add it to your authenticator app with "
            f"the QR code or key above, then type the {totp.digits} digits it shows now.",
            field="code",
        )
    username = enrolment.person.username
    try:
        with transaction.atomic():
            # Locked while FreeIPA changes the password, so two submissions cannot both use it.
            locked = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
            if locked.state != Enrolment.State.OPEN:
                raise EnrolmentRefused(enrolment_closed_message(locked))
            temporary = credentials_read(run=locked.run).get(Credential.Kind.TEMPORARY_PASSWORD, "")
            how = _password_change(username, temporary=temporary, code=code, password=password)
            locked.used_at = timezone.now()
            locked.save(update_fields=["used_at"])
            credentials_destroy(run=locked.run, by=f"enrolment:{username}")
            audit_record(
                actor=username, action="enrolment.completed", target=username,
                outcome="succeeded", run=locked.run,
                details={"enrolment": locked.pk, "from": address, "password_set": how},
            )  # fmt: skip
    except EnrolmentUnavailable as failure:
        audit_record(
            actor=username, action="enrolment.failed", target=username, outcome="failed",
            run=enrolment.run, details={"enrolment": enrolment.pk, "reason": failure.reason},
        )  # fmt: skip
        raise


def _password_change(username: str, *, temporary: str, code: str, password: str) -> str:
    """Change the password as the person, else (grace limit 0) as a password-sync manager when
    AccessAdmin is one; says which."""
    freeipa = registry.system("freeipa")
    try:
        freeipa.client.password_change_as_user(
            username=username, old_password=temporary, otp=code, new_password=password
        )
        return "as the person"
    except PasswordRefused as refusal:
        # A temporary password set by a password-sync manager is not expired, so FreeIPA's
        # minimum life applies to the person's change (util/ipa_pwd.c:555-565).
        too_soon = TOO_SOON in refusal.policy and settings.FREEIPA_PASS_SYNC
        if refusal.policy and not too_soon:
            raise _policy_refusal(refusal.policy) from None
        # The code was right here and the temporary password is the one AccessAdmin set: FreeIPA
        # refused the login with it, which a grace limit of 0 does to every expired password.
        if not settings.FREEIPA_PASS_SYNC:
            raise EnrolmentUnavailable(
                "FreeIPA refused the temporary password",
                "FreeIPA did not accept the temporary password AccessAdmin holds for you, so "
                "your password could not be set. Its password policy may allow no login with an "
                "expired password (a grace limit of 0; see AccessAdmin's README, First login). "
                "Your link still works: ask an admin, then try again.",
            ) from None
    except DownstreamError as error:
        raise _unreachable(error) from None
    try:
        freeipa.password_set_by_pass_sync(username=username, password=password)
    except PasswordRefused as refusal:
        raise _policy_refusal(refusal.policy) from None
    except PermanentError as error:
        raise EnrolmentUnavailable(
            f"password-sync set refused: {error.message}",
            "FreeIPA did not let AccessAdmin set your password. Your link still works: ask an "
            "admin, then try again.",
        ) from None
    except DownstreamError as error:
        raise _unreachable(error) from None
    return "as password-sync manager"


def _policy_refusal(reason: str) -> EnrolmentRefused:
    return EnrolmentRefused(
        f"FreeIPA's password policy refused this password ({reason}). Choose another one.",
        field="password",
    )


def _unreachable(error: DownstreamError) -> EnrolmentUnavailable:
    return EnrolmentUnavailable(
        f"FreeIPA did not answer: {error.message}",
        "FreeIPA could not be reached to set your password. Your link "
        "still works: try again in a few minutes.",
    )
