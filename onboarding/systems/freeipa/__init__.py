"""FreeIPA: the person's account (OTP required), their team's groups and their OTP token."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from django.conf import settings

from onboarding.directory import pass_sync_managers
from onboarding.errors import AccessAdminError, InvalidInput, PasswordRefused, PermanentError
from onboarding.models import Person, Team
from onboarding.systems.base import Check, DirectoryAccount, ManagedObject, System, SystemState
from onboarding.systems.freeipa import steps as s
from onboarding.systems.freeipa.client import FreeIPA
from onboarding.systems.freeipa.grant import (
    REQUIRED_PERMISSIONS,
    ROLE,
    SUBID_PERMISSIONS,
    SUBID_PRIVILEGES,
    freeipa_grant,
    pass_sync_instructions,
)
from onboarding.systems.freeipa.policy import PasswordPolicy

# What the inventory lists: a user's memberships of the teams' groups (others are not ours).
TEAM_GROUPS = "team groups"
# Warn this long before the service account's password expires: then every call would fail.
PASSWORD_WARNING_DAYS = 14


def _subid_rights(ipa: FreeIPA, privileges: set[str], held: set[str]) -> Check | None:
    """With subordinate ids for every new user, user_add and user_del handle them as the
    caller; what that needs is not part of the grant. None when FreeIPA does not do it."""
    try:
        if not ipa.subids_for_new_users():
            return None
    except AccessAdminError as error:
        return Check("subordinate ids", Check.WARNING, f"cannot read the configuration: {error}")
    missing = [f"privilege {name!r}" for name in SUBID_PRIVILEGES if name not in privileges]
    missing += [f"permission {name!r}" for name in SUBID_PERMISSIONS if name not in held]
    if not missing:
        return Check("subordinate ids", Check.OK, "new users get them, and the account may")
    return Check(
        "subordinate ids",
        Check.WARNING,
        "FreeIPA gives every new user subordinate ids (ipaUserDefaultSubordinateId), as the "
        "caller of user_add and user_del; the service account lacks " + ", ".join(missing),
        f"add them to the role {ROLE!r}, or turn it off: ipa config-mod --user-default-subid=False",
    )


def _upg_read(ipa: FreeIPA, grant: str) -> Check:
    """Proves the right user_add needs first, by a user_add that adds nobody."""
    try:
        readable = ipa.upg_definition_readable()
    except AccessAdminError as error:
        return Check("reading the UPG Definition", Check.FAILED, str(error))
    if readable:
        return Check(
            "reading the UPG Definition", Check.OK, "user_add can read it, as it does first"
        )
    return Check(
        "reading the UPG Definition",
        Check.FAILED,
        "user_add would fail: Could not read UPG Definition originfilter "
        "(the permission 'System: Read UPG Definition' grants it)",
        grant,
    )


def _pass_sync_listed(username: str) -> bool | None:
    """Whether passSyncManagersDNs lists the account; None when LDAP_BIND_DN cannot read it."""
    managers = pass_sync_managers()
    if managers is None:
        return None
    return _account_dn(username).lower() in {manager.lower() for manager in managers}


def _account_dn(username: str) -> str:
    return f"uid={username},{settings.LDAP_USER_BASE_DN}"


def _pass_sync(username: str) -> Check:
    """Whether FreeIPA lists the service account as a password-sync manager, which enrolment
    needs under a grace limit of 0 (README: First login)."""
    dn = _account_dn(username)
    listed = _pass_sync_listed(username)
    fix = f"run `manage.py freeipa_grant {username} --pass-sync` and follow what it prints"
    if listed is None and not settings.FREEIPA_PASS_SYNC:
        return Check("password-sync manager", Check.OK, "not used (FREEIPA_PASS_SYNC is off): "
                     "at grace limit 0 enrolment stops with a message")  # fmt: skip
    if listed is None:
        return Check("password-sync manager", Check.WARNING, "cannot read passSyncManagersDNs "
                     "as LDAP_BIND_DN (FreeIPA's permission 'Read PassSync Managers "
                     "Configuration' grants it)", fix)  # fmt: skip
    if listed:
        return Check("password-sync manager", Check.OK, f"{dn} is one: enrolment works at "
                     "grace limit 0, AccessAdmin applying the password policy")  # fmt: skip
    state = Check.FAILED if settings.FREEIPA_PASS_SYNC else Check.OK
    return Check("password-sync manager", state, f"{dn} is not one: at grace limit 0 "
                 "enrolment stops with a message", fix)  # fmt: skip


def _password_expiry(me: dict) -> Check:
    expires = me.get("krbpasswordexpiration")
    expires = expires[0] if isinstance(expires, list) and expires else expires
    if isinstance(expires, dict):
        expires = expires.get("__datetime__")
    if not expires:
        return Check("password expiry", Check.OK, "the service account's password never expires")
    when = datetime.strptime(str(expires), "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    left = when - datetime.now(UTC)
    fix = (
        "set a new password (ipa passwd, then kinit to change it) and give the account a password "
        "policy with a longer lifetime (README: Connecting to a real FreeIPA)"
    )
    if left <= timedelta(0):
        return Check("password expiry", Check.FAILED, f"expired on {when:%Y-%m-%d}", fix)
    if left <= timedelta(days=PASSWORD_WARNING_DAYS):
        return Check("password expiry", Check.WARNING,
                     f"expires on {when:%Y-%m-%d}, in {left.days} days", fix)  # fmt: skip
    return Check("password expiry", Check.OK, f"expires on {when:%Y-%m-%d}")


class FreeIPASystem(System):
    name = "freeipa"
    label = "FreeIPA"
    steps = {
        ("onboard", "account"): (s.USER_CREATE,),
        ("onboard", "access"): (s.TEAM_GROUPS_JOIN, s.OTP_TOKEN_CREATE),
        ("offboard", "cut_off"): (s.USER_DISABLE, s.LEAD_ROLES_REMOVE),
        ("offboard", "memberships"): (s.MEMBERSHIPS_REMOVE, s.OTP_TOKENS_DELETE),
        ("offboard", "preserve"): (s.USER_PRESERVE,),
        ("move", "team"): (s.TEAM_GROUPS_SWITCH,),
        ("reinstate", "account"): (s.USER_RESTORE, s.USER_ENABLE, s.TEMPORARY_PASSWORD_REISSUE),
        ("reinstate", "access"): (s.TEAM_GROUPS_JOIN, s.OTP_TOKEN_CREATE),
        ("repair", "access"): (s.TEAM_GROUPS_REPAIR,),
        ("reset", "old_token"): (s.OTP_TOKENS_DELETE,),
        ("reset", "new_token"): (s.OTP_TOKEN_CREATE,),
        ("reset", "password"): (s.TEMPORARY_PASSWORD_REISSUE,),
    }

    def client_build(self) -> FreeIPA:
        return FreeIPA.from_settings()

    def person_state(self, person: Person) -> SystemState:
        ipa: FreeIPA = self.client
        user = ipa.user_find(username=person.username)
        if user is None:
            return SystemState(self.label, False, "no user")
        if user.preserved:
            summary = "preserved (deleted, can be reinstated)"
        elif user.disabled:
            summary = "disabled"
        else:
            summary = "active"
        tokens = ipa.otp_tokens(username=person.username) if not user.preserved else []
        groups = ", ".join(user.groups) or "no groups"
        detail = f"{summary}; uid {user.uid_number}; groups: {groups}; OTP tokens: {len(tokens)}"
        return SystemState(self.label, True, detail)

    def inventory(self) -> list[ManagedObject]:
        """The users in the teams' groups, each with the team groups they are in: one call per
        group."""
        found: dict[str, list[str]] = {}
        for name in sorted(s.team_groups()):
            group = self.client.group_find(name=name)
            for username in group.members if group else ():
                found.setdefault(username, []).append(name)
        return [
            ManagedObject(
                self.name,
                TEAM_GROUPS,
                username,
                username,
                f"in {', '.join(in_groups)}",
                {"groups": ", ".join(sorted(in_groups))},
            )
            for username, in_groups in sorted(found.items())
        ]

    def expected(self, person: Person) -> list[ManagedObject]:
        groups = ", ".join(sorted(person.team.freeipa_groups))
        return [
            ManagedObject(
                self.name,
                TEAM_GROUPS,
                person.username,
                person.username,
                f"in {groups}",
                {"groups": groups},
            )
        ]

    def orphan_remove(self, item: ManagedObject) -> None:
        """Out of the teams' groups: the account itself may be someone's outside AccessAdmin."""
        groups = [name for name in item.compared.get("groups", "").split(", ") if name]
        self.client.group_remove_members(username=item.username, groups=groups)

    def account_details(self, username: str) -> DirectoryAccount | None:
        user = self.client.user_find(username=username)
        if user is None:
            return None
        return DirectoryAccount(
            username=user.username, first_name=user.first_name, last_name=user.last_name,
            email=user.email, uid_number=user.uid_number or None,
            gid_number=user.gid_number or None, disabled=user.disabled or user.preserved,
        )  # fmt: skip

    def onboard_problem(self, username: str) -> str | None:
        return self.onboard_problems([username]).get(username)

    def onboard_problems(self, usernames: list[str]) -> dict[str, str]:
        found = self.client.users_find(usernames=usernames)
        return {
            username: _taken(username, user) for username, user in found.items() if user is not None
        }

    def person_details_set(
        self, *, person: Person, first_name: str, last_name: str, email: str
    ) -> None:
        self.client.user_details_set(
            username=person.username, first_name=first_name, last_name=last_name, email=email
        )

    def team_apply(self, *, team: Team, leads: list[str] | None) -> None:
        ipa: FreeIPA = self.client
        group = ipa.group_ensure(
            name=team.freeipa_group, description=f"Team {team.name} (AccessAdmin)"
        )
        if leads is None:
            return
        for lead in sorted(set(leads) - set(group.managers)):
            ipa.group_add_manager(group=team.freeipa_group, username=lead)
        for manager in sorted(set(group.managers) - set(leads)):
            ipa.group_remove_manager(group=team.freeipa_group, username=manager)

    def team_leads(self, team: Team) -> set[str]:
        group = self.client.group_find(name=team.freeipa_group)
        return set(group.managers) if group else set()

    def lead_problem(self, username: str) -> str | None:
        user = self.client.user_find(username=username)
        if user is None:
            return f"{username} is not a FreeIPA user."
        if user.preserved or user.disabled:
            return f"{username}'s FreeIPA account is disabled; they cannot lead a team."
        return None

    def settings_problems(self) -> list[str]:
        problems = []
        if not settings.FREEIPA_HOST:
            problems.append("FREEIPA_HOST is not set")
        if not settings.FREEIPA_USERNAME or not settings.FREEIPA_PASSWORD:
            problems.append("FREEIPA_USERNAME and FREEIPA_PASSWORD must both be set")
        ca_file = settings.FREEIPA_CA_FILE
        if ca_file and not os.access(ca_file, os.R_OK):
            problems.append(f"FREEIPA_CA_FILE {ca_file} cannot be read")
        return problems

    def credentials_check(self) -> str:
        return f"logged in as {self.client.username}: {self.client.ping()}"

    def service_account_grant(self, *, username: str, admin: str, admin_password: str) -> list[str]:
        """Give `username` what AccessAdmin needs, logged in as the FreeIPA admin `admin`."""
        ipa = FreeIPA(
            host=settings.FREEIPA_HOST, username=admin, password=admin_password,
            ca_file=settings.FREEIPA_CA_FILE,
        )  # fmt: skip
        if ipa.user_find(username=username) is None:
            raise InvalidInput(f"FreeIPA has no user {username!r}: add it first (ipa user-add).")
        return freeipa_grant(ipa, username=username)

    def pass_sync_instructions(self, *, username: str) -> list[str]:
        """How to make `username` a password-sync manager (an opt-in the grant cannot make)."""
        return pass_sync_instructions(username=username, user_base_dn=settings.LDAP_USER_BASE_DN)

    def password_set_by_pass_sync(self, *, username: str, password: str) -> None:
        """Set the person's password as a password-sync manager, after checking it against
        FreeIPA's policy for them, which FreeIPA skips for such a set (see policy.py)."""
        policy = PasswordPolicy.from_entry(self.client.password_policy_show(username=username))
        if policy.quality_rules:
            rules = ", ".join(policy.quality_rules)
            raise PermanentError(
                self.name, f"the password policy sets rules AccessAdmin does not apply: {rules}"
            )
        refusal = policy.refusal(password)
        if refusal:
            raise PasswordRefused(self.name, policy=f"Constraint violation: {refusal}")
        # Unreadable, the list is not held against it: the expiry FreeIPA answers is checked.
        if _pass_sync_listed(self.client.username) is False:
            raise PermanentError(
                self.name, f"{self.client.username} is not in FreeIPA's passSyncManagersDNs"
            )
        expires = self.client.password_set(username=username, password=password)
        if expires and datetime.strptime(expires, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC) <= (
            datetime.now(UTC)
        ):
            raise PermanentError(
                self.name,
                f"FreeIPA stored the password expired: {self.client.username} is not a "
                "password-sync manager",
            )

    def preflight(self) -> list[Check]:
        ipa: FreeIPA = self.client
        grant = f"run `manage.py freeipa_grant {ipa.username}` as a FreeIPA admin"
        try:
            me, privileges, held = ipa.account_rights()
        except AccessAdminError as error:
            return [Check("service account", Check.FAILED, str(error))]
        checks = [Check("service account", Check.OK, f"logged in as {ipa.username} at {ipa.host}")]
        checks.append(_password_expiry(me))
        checks.append(_pass_sync(ipa.username))
        if "admins" in me.get("memberof_group", ()):
            checks.append(
                Check(
                    "rights",
                    Check.WARNING,
                    f"{ipa.username} is in admins: it may do anything, far more than AccessAdmin "
                    "needs",
                    f"remove it from admins after you {grant}",
                )
            )
            return checks
        missing = {name: why for name, why in REQUIRED_PERMISSIONS.items() if name not in held}
        for name, why in missing.items():
            checks.append(Check(f"permission {name!r}", Check.FAILED, f"needed for {why}", grant))
        checks.append(_upg_read(ipa, grant))
        subids = _subid_rights(ipa, privileges, held)
        if subids is not None:
            checks.append(subids)
        if not missing:
            checks.append(
                Check(
                    "rights",
                    Check.OK,
                    f"holds all {len(REQUIRED_PERMISSIONS)} "
                    f"permissions AccessAdmin needs through the role {ROLE!r}",
                )
            )
        return checks


def _taken(username: str, user) -> str:
    where = "as a preserved user; reinstate them instead" if user.preserved else "already"
    return f"The username {username!r} is taken in FreeIPA {where}."
