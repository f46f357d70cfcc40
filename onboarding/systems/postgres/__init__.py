"""PostgreSQL: each person's LOGIN role, with no password (the server authenticates them itself:
`ldap` in pg_hba.conf against FreeIPA, or IAM tokens on RDS), in their team's group roles."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings

from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import Person
from onboarding.systems.base import (
    Check,
    ManagedObject,
    System,
    SystemState,
    TeamSetting,
    names_parse,
    text_list,
)
from onboarding.systems.postgres import steps as s
from onboarding.systems.postgres.client import PostgresAccess, Role

LOGIN_ROLE = "login role"
# Unquoted-identifier names, so a role reads the same in every tool; pg_ names are PostgreSQL's.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def role_name_check(name: str) -> None:
    if not _ROLE_NAME.fullmatch(name) or name.startswith("pg_"):
        raise InvalidInput(
            f"{name!r} is not a role name: lower-case letters, digits and _, starting with a "
            "letter or _, at most 63, not starting with pg_."
        )


def _roles_ask(system: System, roles: list[str]) -> str | None:
    missing = system.client.roles_missing(roles)
    if missing:
        return (
            f"PostgreSQL has no role(s) {', '.join(missing)}; create them first "
            "(CREATE ROLE name NOLOGIN)."
        )
    return None


ROLES_SETTING = TeamSetting(
    s.ROLES,
    "Roles",
    "PostgreSQL group roles every member's login role joins, separated by commas; they must "
    "exist in the database.",
    parse=lambda value: names_parse(value, label="Roles", check=role_name_check),
    default=[],
    text=text_list,
    ask=_roles_ask,
)


def _held(role: Role) -> list[str]:
    return sorted(s.roles_ours(role))


def _compared(can_login: bool, roles: list[str]) -> dict[str, str]:
    return {"login": "yes" if can_login else "no", "roles": ", ".join(roles) or "none"}


class PostgresSystem(System):
    name = "postgres"
    label = "PostgreSQL"
    steps = {
        ("onboard", "access"): (s.ROLE_GRANT,),
        ("offboard", "cut_off"): (s.LOGIN_END,),
        ("offboard", "memberships"): (s.TEAM_ROLES_REVOKE,),
        ("move", "team"): (s.TEAM_ROLES_SWITCH,),
        ("reinstate", "access"): (s.LOGIN_RESTORE,),
        ("repair", "access"): (s.ROLE_REPAIR,),
    }
    team_settings = (ROLES_SETTING,)
    step_words = {
        "postgres_role": lambda w: (
            f"Create the PostgreSQL login role {w.username} (no password: the database asks "
            f"the directory) in the role(s) {text_list(w.setting('postgres', 'roles')) or 'none'}"
        ),
        "postgres_login_restore": lambda w: (
            f"Let the PostgreSQL role {w.username} log in again, in the role(s) "
            f"{text_list(w.setting('postgres', 'roles')) or 'none'}"
        ),
        "postgres_login_end": lambda w: (
            f"End {w.username}'s PostgreSQL logins and open sessions (what they own stays)"
        ),
        "postgres_team_roles_removal": lambda w: (
            f"Take the PostgreSQL role {w.username} out of the teams' roles"
        ),
        "postgres_team_roles": lambda w: (
            f"Move the PostgreSQL role {w.username} from the role(s) "
            f"{text_list(w.setting_before('postgres', 'roles')) or 'none'} to "
            f"{text_list(w.setting('postgres', 'roles')) or 'none'}"
        ),
    }

    def client_build(self) -> PostgresAccess:
        return PostgresAccess.from_settings()

    def person_state(self, person: Person) -> SystemState:
        role = self.client.role_find(person.username)
        if role is None:
            return SystemState(self.label, False, "no role")
        if not role.managed:
            return SystemState(self.label, False, "a role of that name AccessAdmin did not make")
        login = "may log in" if role.can_login else "no logins"
        roles = ", ".join(role.member_of) or "no roles"
        return SystemState(
            self.label, True, f"login role, {login}; in {roles}; {role.sessions} open session(s)"
        )

    def inventory(self) -> list[ManagedObject]:
        """The roles AccessAdmin made that still give access (logins, or a team's roles): one
        query. An offboarded person's role stays, with neither, and is not listed."""
        found = []
        for role in self.client.roles_managed():
            held = _held(role)
            if role.can_login or held:
                found.append(
                    ManagedObject(
                        self.name, LOGIN_ROLE, role.name, role.name,
                        f"{'may log in' if role.can_login else 'no logins'}; in "
                        f"{', '.join(held) or 'no team roles'}",
                        _compared(role.can_login, held),
                    )
                )  # fmt: skip
        return found

    def expected(self, person: Person) -> list[ManagedObject]:
        roles = s.person_roles_expected(person)
        return [
            ManagedObject(
                self.name, LOGIN_ROLE, person.username, person.username,
                f"may log in; in {', '.join(roles) or 'no team roles'}", _compared(True, roles),
            )
        ]  # fmt: skip

    def orphan_remove(self, item: ManagedObject) -> None:
        """As offboarding: no logins, out of the teams' roles, sessions ended; the role and
        what it owns stay."""
        db: PostgresAccess = self.client
        role = s.role_ours(db, item.username)
        if role is None:
            return
        db.login_set(item.username, allowed=False)
        db.sessions_end(item.username)
        db.roles_revoke(item.username, _held(role))

    def onboard_problem(self, username: str) -> str | None:
        role = self.client.role_find(username)
        if role is not None and not role.managed:
            return (
                f"PostgreSQL has a role {username} that AccessAdmin did not make; rename or "
                "drop it first"
            )
        return None

    def settings_problems(self) -> list[str]:
        problems = []
        url = settings.POSTGRES_ACCESS_URL
        if not url:
            problems.append("POSTGRES_ACCESS_URL is not set")
        else:
            parts = urlsplit(url)
            if not parts.hostname or not parts.username or not parts.path.strip("/"):
                problems.append(
                    "POSTGRES_ACCESS_URL must name the host, the administering role and the "
                    "database: postgres://ROLE@HOST:5432/DATABASE"
                )
            if parts.password and settings.POSTGRES_ACCESS_PASSWORD:
                problems.append(
                    "POSTGRES_ACCESS_URL carries a password and POSTGRES_ACCESS_PASSWORD(_FILE) "
                    "is set: give it once"
                )
        return problems

    def credentials_check(self) -> str:
        return self.client.whoami()

    def preflight(self) -> list[Check]:
        db: PostgresAccess = self.client
        try:
            rights = db.rights()
            who = db.whoami()
            team_roles = sorted(s.teams_roles() | set(s.login_roles()))
            missing = db.roles_missing(team_roles)
            grantable = db.may_grant(set(team_roles) - set(missing))
        except AccessAdminError as error:
            return [Check("administering role", Check.FAILED, str(error))]
        checks = [Check("administering role", Check.OK, who)]
        if rights.superuser:
            checks.append(
                Check(
                    "least privilege", Check.WARNING, f"{rights.role} is a superuser",
                    "administer with a role that has CREATEROLE and pg_signal_backend only",
                )
            )  # fmt: skip
        if not (rights.create_role or rights.superuser):
            checks.append(
                Check(
                    "CREATEROLE", Check.FAILED, f"{rights.role} cannot create people's roles",
                    f"ALTER ROLE {rights.role} CREATEROLE",
                )
            )  # fmt: skip
        if not (rights.signal_backend or rights.superuser):
            checks.append(
                Check(
                    "pg_signal_backend", Check.FAILED,
                    f"{rights.role} cannot end a leaver's open sessions",
                    f"GRANT pg_signal_backend TO {rights.role}",
                )
            )  # fmt: skip
        for role in missing:
            checks.append(
                Check(
                    f"role {role}", Check.FAILED, "a team's role that does not exist",
                    f"CREATE ROLE {role} NOLOGIN, or change the team's PostgreSQL roles",
                )
            )  # fmt: skip
        for role, may in sorted(grantable.items()):
            if not may:
                checks.append(
                    Check(
                        f"role {role}", Check.FAILED, f"{rights.role} may not grant it",
                        f"GRANT {role} TO {rights.role} WITH ADMIN OPTION",
                    )
                )  # fmt: skip
        return checks

    def login_link(self) -> tuple[str, str] | None:
        parts = urlsplit(settings.POSTGRES_ACCESS_URL)
        if not parts.hostname:
            return None
        database = parts.path.strip("/")
        return (
            "PostgreSQL (your username and password)",
            f"{parts.hostname}:{parts.port or 5432}, database {database}",
        )
