"""Staff login through FreeIPA's directory, and an audit event for every login and refusal.

A person binds to the directory as themselves. Their roles come from the directory too: members
of the admin group (mirrored into a Django group at each login) are platform admins; the FreeIPA
groups whose ``memberManager`` names them are remembered in their session as the teams they lead.
"""

from __future__ import annotations

import logging
import unicodedata

import ldap
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.sessions.models import Session
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from django_auth_ldap.backend import LDAPBackend

from onboarding.access import has_local_password
from onboarding.audit import audit_record
from onboarding.directory import expiry_passed, managed_groups_find, password_expired
from onboarding.signals import person_offboard_requested

logger = logging.getLogger(__name__)

MANAGED_GROUPS_SESSION_KEY = "directory_managed_groups"


def otp_password_join(password: str, otp_code: str) -> str:
    """FreeIPA checks both in one bind: the password immediately followed by the OTP code."""
    return f"{password}{otp_code.strip()}" if otp_code and otp_code.strip() else password


class DirectoryBackend(LDAPBackend):
    """FreeIPA's LDAP directory; refuses accounts that have a local password (break-glass ones)."""

    def authenticate_ldap_user(self, ldap_user, password):
        # Refused before the directory is asked: its answer would overwrite the local account's
        # details, and whoever holds the name there would become the break-glass admin.
        local = get_user_model().objects.filter(username__iexact=ldap_user._username).first()
        if local is not None and has_local_password(local):
            logger.warning("directory login refused for local account %s", local.get_username())
            return None
        # A new account's temporary password is expired from the start. Asked through the
        # service's own bind first: binding as the person with it would spend one of their
        # grace logins (FreeIPA's ipa_graceperiod counts every such bind) on a login refused
        # anyway. They are told to change it first.
        if password_expired(ldap_user._username):
            _password_expired_say(ldap_user)
            return None
        user = ldap_user.authenticate(password)
        if user is None:
            return None
        if expiry_passed(ldap_user.attrs.get("krbpasswordexpiration")):
            _password_expired_say(ldap_user)
            return None
        try:
            user.managed_groups = managed_groups_find(ldap_user.connection, ldap_user.dn)
        except ldap.LDAPError as error:
            # The login stands; the next request reads the rights again.
            logger.warning("member managers of %s not read: %s", ldap_user.dn, error)
            user.managed_groups = []
        return user


def _password_expired_say(ldap_user) -> None:
    request = getattr(ldap_user, "_request", None)
    if request is not None:
        request.password_expired = True


def login_username_fold(raw: str) -> str:
    """One key per person, however they type it: "LeadB", "leadb" and the same in full-width
    letters are one login to lock out, and one directory account."""
    return unicodedata.normalize("NFKC", raw or "").casefold().strip()


def lockout_username(request: HttpRequest, credentials: dict | None = None) -> str:
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    return login_username_fold(raw)


def lockout_address(request: HttpRequest | None) -> str | None:
    """The client's address. Behind TRUSTED_PROXY_COUNT proxies, each appending the address it
    saw to X-Forwarded-For, it is the entry that many from the right: whatever comes before it
    the client wrote itself. With no proxy trusted (0), X-Forwarded-For is ignored."""
    if request is None:
        return None
    trusted = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [entry for entry in forwarded if entry]
    if trusted and forwarded:
        # Fewer entries than proxies: the request passed fewer of them, and the first one
        # there wrote the leftmost entry.
        return forwarded[-min(trusted, len(forwarded))][:64]
    return request.META.get("REMOTE_ADDR") or None


def client_address(request: HttpRequest | None) -> str:
    """The address the audit trail records: the one lockouts count against."""
    return lockout_address(request) or "unknown"


@receiver(user_logged_in)
def login_record(sender, request: HttpRequest, user, **kwargs) -> None:
    request.session[MANAGED_GROUPS_SESSION_KEY] = list(getattr(user, "managed_groups", []))
    audit_record(
        actor=user.get_username(),
        action="login",
        target=user.get_username(),
        outcome="succeeded",
        details={
            "from": client_address(request),
            "via": "directory" if hasattr(user, "ldap_user") else "local account",
        },
    )


@receiver(user_login_failed)
def login_failure_record(sender, credentials: dict, request: HttpRequest | None = None, **kw):
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=username or "anonymous",
        action="login",
        target=username,
        outcome="failed",
        details={"from": client_address(request)},
    )


@receiver(user_locked_out)
def lockout_record(sender, request: HttpRequest, username: str | None = None, **kwargs) -> None:
    audit_record(
        actor=(username or "anonymous")[:150],
        action="login",
        target=username or "",
        outcome="denied",
        details={"from": client_address(request), "reason": "too many failed logins"},
    )


@receiver(person_offboard_requested)
def sessions_end(sender, username: str, **kwargs) -> None:
    """A leaver's sessions end when the offboarding is asked for."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get(SESSION_KEY) == str(user.pk):
            session.delete()
            audit_record(
                actor="accessadmin", action="logout", target=username, outcome="succeeded",
                details={"why": "offboarding requested"},
            )  # fmt: skip


@receiver(user_logged_out)
def logout_record(sender, request: HttpRequest, user, **kwargs) -> None:
    if user is not None:
        audit_record(
            actor=user.get_username(), action="logout", target=user.get_username(),
            outcome="succeeded", details={"from": client_address(request)},
        )  # fmt: skip
