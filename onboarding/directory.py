"""What the directory says about a staff account now: whether it still exists and is enabled,
whether it is a platform admin, and which groups it manages (the teams it leads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import ldap
from django.conf import settings
from django.utils import timezone
from ldap.filter import escape_filter_chars

from onboarding.errors import DirectoryUnavailable
from onboarding.systems import Check

# FreeIPA's own administrators' group (install/share/bootstrap-template.ldif).
FREEIPA_ADMINS_GROUP = "admins"


@dataclass(frozen=True)
class DirectoryRights:
    exists: bool
    disabled: bool
    is_admin: bool
    managed_groups: tuple[str, ...]
    # Powers in FreeIPA itself: "admins" membership, and each role held ("role <name>").
    directory_powers: tuple[str, ...] = ()

    @property
    def privileged(self) -> bool:
        """A platform admin, a team lead, or someone with powers in FreeIPA itself: someone
        only a platform admin may act on."""
        return self.is_admin or bool(self.managed_groups) or bool(self.directory_powers)


def directory_powers_of(member_of: set[str]) -> tuple[str, ...]:
    """From a user's memberOf values (lower-cased DNs): FreeIPA's admins group, and any role
    (a role's members are listed in the user's memberOf, as groups' are)."""
    admins_dn = f"cn={FREEIPA_ADMINS_GROUP},{settings.LDAP_GROUP_BASE_DN}".lower()
    roles_base = f",cn=roles,cn=accounts,{settings.LDAP_BASE_DN}".lower()
    powers = ["member of FreeIPA's admins"] if admins_dn in member_of else []
    for dn in sorted(member_of):
        if dn.endswith(roles_base) and dn.startswith("cn="):
            powers.append(f"role {dn[3:].split(',', 1)[0]}")
    return tuple(powers)


def _connect():
    connection = ldap.initialize(settings.AUTH_LDAP_SERVER_URI)
    for option, value in settings.AUTH_LDAP_CONNECTION_OPTIONS.items():
        connection.set_option(option, value)
    if settings.AUTH_LDAP_START_TLS:
        connection.start_tls_s()
    connection.simple_bind_s(settings.AUTH_LDAP_BIND_DN, settings.AUTH_LDAP_BIND_PASSWORD)
    return connection


def directory_preflight(**_) -> tuple[str, Check]:
    """Preflight of the web login's directory: a bind as LDAP_BIND_DN over the configured TLS."""
    if not settings.AUTH_LDAP_SERVER_URI:
        return "Web login", Check("LDAP", Check.WARNING, "LDAP_URI is not set: only local "
                                  "accounts can log in")  # fmt: skip
    secure = settings.AUTH_LDAP_SERVER_URI.startswith("ldaps://") or settings.AUTH_LDAP_START_TLS
    try:
        connection = _connect()
        try:
            who = connection.whoami_s() or settings.AUTH_LDAP_BIND_DN or "anonymous"
        finally:
            connection.unbind_s()
    except ldap.LDAPError as error:
        reason = error.args[0].get("desc", str(error)) if error.args else str(error)
        fix = "check LDAP_URI, LDAP_BIND_DN, LDAP_BIND_PASSWORD and LDAP_CA_FILE"
        return "Web login", Check("LDAP", Check.FAILED, reason, fix)
    detail = f"bound to {settings.AUTH_LDAP_SERVER_URI} as {who}"
    return "Web login", Check("LDAP", Check.OK, detail + (" over TLS" if secure else ""))


# Where FreeIPA's ipa-pwd-extop plugin lists its password-sync managers (common.c:227-228).
PASS_SYNC_CONFIG_DN = "cn=ipa_pwd_extop,cn=plugins,cn=config"  # noqa: S105 - a DN


def pass_sync_managers() -> list[str] | None:
    """The DNs in passSyncManagersDNs, or None when LDAP_BIND_DN may not read them (FreeIPA's
    permission "Read PassSync Managers Configuration") or the directory cannot be reached."""
    try:
        connection = _connect()
        try:
            found = connection.search_s(
                PASS_SYNC_CONFIG_DN, ldap.SCOPE_BASE, "(objectClass=*)", ["passSyncManagersDNs"]
            )
        finally:
            connection.unbind_s()
    except ldap.LDAPError:
        return None
    for _, attrs in found:
        return [_text(value) for value in attrs.get("passSyncManagersDNs", [])]
    return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def password_expired(username: str) -> bool:
    """Whether the account's password has expired (krbPasswordExpiration in the past), as far as
    the directory says; False when it cannot tell."""
    try:
        connection = _connect()
        try:
            found = connection.search_s(
                settings.LDAP_USER_BASE_DN, ldap.SCOPE_ONELEVEL,
                f"(uid={escape_filter_chars(username)})", ["krbPasswordExpiration"],
            )  # fmt: skip
        finally:
            connection.unbind_s()
    except ldap.LDAPError:
        return False
    for dn, attrs in found:
        if dn:
            return expiry_passed(attrs.get("krbPasswordExpiration"))
    return False


def expiry_passed(values) -> bool:
    if not values:
        return False
    value = _text(values[0])
    try:
        expires = datetime.strptime(value, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return False
    return expires <= timezone.now()


def managed_groups_find(connection, user_dn: str) -> list[str]:
    """Names of the groups whose member managers include this person (the teams they lead)."""
    found = connection.search_s(
        settings.LDAP_GROUP_BASE_DN, ldap.SCOPE_SUBTREE,
        f"(memberManager={escape_filter_chars(user_dn)})", ["cn"],
    )  # fmt: skip
    return sorted(_text(attrs["cn"][0]) for dn, attrs in found if dn and attrs.get("cn"))


def rights_find(username: str) -> DirectoryRights:
    """Asked of the directory every time; raises DirectoryUnavailable when it does not answer."""
    try:
        connection = _connect()
        try:
            found = connection.search_s(
                settings.LDAP_USER_BASE_DN, ldap.SCOPE_ONELEVEL,
                f"(uid={escape_filter_chars(username)})", ["nsAccountLock", "memberOf"],
            )  # fmt: skip
            entries = [(dn, attrs) for dn, attrs in found if dn]
            if not entries:
                return DirectoryRights(False, False, False, ())
            dn, attrs = entries[0]
            disabled = _text((attrs.get("nsAccountLock") or [b"FALSE"])[0]).upper() == "TRUE"
            admin_dn = f"cn={settings.LDAP_ADMIN_GROUP},{settings.LDAP_GROUP_BASE_DN}".lower()
            member_of = {_text(value).lower() for value in attrs.get("memberOf", [])}
            groups = managed_groups_find(connection, dn)
            return DirectoryRights(
                True, disabled, admin_dn in member_of, tuple(groups),
                directory_powers_of(member_of),
            )  # fmt: skip
        finally:
            connection.unbind_s()
    except ldap.LDAPError as error:
        raise DirectoryUnavailable(
            f"the directory did not answer: {type(error).__name__}"
        ) from None
