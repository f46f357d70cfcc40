"""Staff login through FreeIPA's directory, and an audit event for every login and refusal.

A person binds to the directory as themselves. Their roles come from the directory too: members
of the admin group (mirrored into a Django group at each login) are platform admins; the FreeIPA
groups whose ``memberManager`` names them are remembered in their session as the teams they lead.
"""

from __future__ import annotations

import logging

import ldap
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend
from ldap.filter import escape_filter_chars

from onboarding.audit import audit_record

logger = logging.getLogger(__name__)

MANAGED_GROUPS_SESSION_KEY = "directory_managed_groups"


def otp_password_join(password: str, otp_code: str) -> str:
    """FreeIPA checks both in one bind: the password immediately followed by the OTP code."""
    return f"{password}{otp_code.strip()}" if otp_code and otp_code.strip() else password


class DirectoryBackend(LDAPBackend):
    """FreeIPA's LDAP directory; refuses accounts that have a local password (break-glass ones)."""

    def authenticate_ldap_user(self, ldap_user, password):
        user = ldap_user.authenticate(password)
        if user is None:
            return None
        if _has_local_password(user):
            # Else whoever holds the same name in the directory would become the break-glass admin.
            logger.warning("directory login refused for local account %s", user.get_username())
            return None
        user.managed_groups = managed_groups_find(ldap_user.connection, ldap_user.dn)
        return user


def _has_local_password(user) -> bool:
    """A password set here (createsuperuser); accounts made for team leads have none at all."""
    return bool(user.password) and user.has_usable_password()


def managed_groups_find(connection, user_dn: str) -> list[str]:
    """Names of the groups whose member managers include this person."""
    try:
        found = connection.search_s(
            settings.LDAP_GROUP_BASE_DN,
            ldap.SCOPE_SUBTREE,
            f"(memberManager={escape_filter_chars(user_dn)})",
            ["cn"],
        )
    except ldap.LDAPError as error:
        logger.warning("member managers of %s not read: %s", user_dn, error)
        return []
    return sorted(
        attrs["cn"][0].decode() if isinstance(attrs["cn"][0], bytes) else attrs["cn"][0]
        for dn, attrs in found
        if dn and attrs.get("cn")
    )


def _client_address(request: HttpRequest | None) -> str:
    return (request.META.get("REMOTE_ADDR", "") if request is not None else "") or "unknown"


@receiver(user_logged_in)
def login_record(sender, request: HttpRequest, user, **kwargs) -> None:
    request.session[MANAGED_GROUPS_SESSION_KEY] = list(getattr(user, "managed_groups", []))
    audit_record(
        actor=user.get_username(),
        action="login",
        target=user.get_username(),
        outcome="succeeded",
        details={
            "from": _client_address(request),
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
        details={"from": _client_address(request)},
    )


@receiver(user_locked_out)
def lockout_record(sender, request: HttpRequest, username: str | None = None, **kwargs) -> None:
    audit_record(
        actor=(username or "anonymous")[:150],
        action="login",
        target=username or "",
        outcome="denied",
        details={"from": _client_address(request), "reason": "too many failed logins"},
    )


@receiver(user_logged_out)
def logout_record(sender, request: HttpRequest, user, **kwargs) -> None:
    if user is not None:
        audit_record(
            actor=user.get_username(), action="logout", target=user.get_username(),
            outcome="succeeded", details={"from": _client_address(request)},
        )  # fmt: skip
