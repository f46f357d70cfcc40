"""PostgreSQL's steps: the person's LOGIN role in their team's group roles, ending its logins
and sessions when they leave, and giving them back."""

from __future__ import annotations

from django.conf import settings

from onboarding.errors import NotFound, PermanentError
from onboarding.models import Person, Team
from onboarding.steps import PlanStep, StepContext
from onboarding.systems.postgres.client import RDS_IAM, SYSTEM, PostgresAccess, Role
from onboarding.team_settings import team_setting

ROLES = "roles"


def team_roles(team: Team) -> list[str]:
    return list(team_setting(team, SYSTEM, ROLES))


def teams_roles() -> set[str]:
    """The group roles AccessAdmin grants: every team's."""
    return {role for team in Team.objects.all() for role in team_roles(team)}


def roles_ours(role: Role) -> set[str]:
    """The group roles the person's role is in through AccessAdmin: a team's now, rds_iam, or
    granted by the administering role (a team's once)."""
    return (teams_roles() | set(login_roles()) | set(role.granted_by_us)) & set(role.member_of)


def login_roles() -> list[str]:
    """What every person's role is granted besides their team's: rds_iam on RDS, when set."""
    return [RDS_IAM] if settings.POSTGRES_RDS_IAM else []


def role_ours(db: PostgresAccess, name: str) -> Role | None:
    """The person's role, or None; one made by hand under their name is refused, not adopted."""
    role = db.role_find(name)
    if role is not None and not role.managed:
        raise PermanentError(
            SYSTEM,
            f"a role {name} exists that AccessAdmin did not make (it lacks AccessAdmin's "
            "comment); rename or drop it, or comment it as AccessAdmin's if it is theirs",
        )
    return role


def grant(db: PostgresAccess, name: str, roles: list[str], *, team: str) -> None:
    missing = db.roles_missing(roles)
    if missing:
        raise NotFound(
            SYSTEM,
            f"team {team}'s role(s) {', '.join(missing)} do not exist in PostgreSQL; create "
            "them, or change the team's PostgreSQL roles",
        )
    db.roles_grant(name, roles)


class PostgresStep(PlanStep):
    system = SYSTEM

    @staticmethod
    def db(ctx: StepContext) -> PostgresAccess:
        return ctx.client


def _wanted(ctx: StepContext) -> list[str]:
    return sorted({*team_roles(ctx.team), *login_roles()})


def _access_grant(ctx: StepContext) -> dict:
    db: PostgresAccess = ctx.client
    role = role_ours(db, ctx.username)
    if role is None:
        db.person_role_create(ctx.username)
    elif not role.can_login:
        db.login_set(ctx.username, allowed=True)
    grant(db, ctx.username, _wanted(ctx), team=ctx.team.name)
    return {"role": ctx.username, "roles": _wanted(ctx)}


class RoleGrant(PostgresStep):
    name = "postgres_role"
    description = "Create their PostgreSQL login role in the team's roles"

    def do(self, ctx: StepContext) -> dict:
        return _access_grant(ctx)

    def check(self, ctx: StepContext) -> dict | None:
        role = role_ours(self.db(ctx), ctx.username)
        wanted = _wanted(ctx)
        if role is None or not role.can_login or not set(wanted) <= set(role.member_of):
            return None
        return {"role": ctx.username, "roles": wanted}

    def undo(self, ctx: StepContext) -> None:
        """The role it made is dropped; one that owns something refuses, and stays."""
        self.db(ctx).sessions_end(ctx.username)
        if role_ours(self.db(ctx), ctx.username) is not None:
            self.db(ctx).role_drop(ctx.username)


class LoginRestore(RoleGrant):
    name = "postgres_login_restore"
    description = "Let their PostgreSQL role log in again, in the team's roles"

    def undo(self, ctx: StepContext) -> None:
        """Back to how offboarding left it: no logins, no team roles; the role stays."""
        db = self.db(ctx)
        role = role_ours(db, ctx.username)
        if role is not None:
            db.login_set(ctx.username, allowed=False)
            db.sessions_end(ctx.username)
            db.roles_revoke(ctx.username, sorted(set(_wanted(ctx)) & set(role.member_of)))


class RoleRepair(PostgresStep):
    name = "postgres_role_repair"
    description = "Make their PostgreSQL login role, in exactly their team's roles"

    def do(self, ctx: StepContext) -> dict:
        ids = _access_grant(ctx)
        role = self.db(ctx).role_find(ctx.username)
        leaving = sorted(roles_ours(role) - set(_wanted(ctx)))
        self.db(ctx).roles_revoke(ctx.username, leaving)
        return {**ids, "removed": leaving}

    def check(self, ctx: StepContext) -> dict | None:
        role = role_ours(self.db(ctx), ctx.username)
        wanted = set(_wanted(ctx))
        if role is None or not role.can_login:
            return None
        if not wanted <= set(role.member_of) or roles_ours(role) - wanted:
            return None
        return {"role": ctx.username, "roles": sorted(wanted), "removed": []}

    def undo(self, ctx: StepContext) -> None:
        """The roles it took away are given back; the role it made stays."""
        removed = (ctx.record.external_ids if ctx.record else {}).get("removed", [])
        self.db(ctx).roles_grant(ctx.username, removed)


class LoginEnd(PostgresStep):
    name = "postgres_login_end"
    description = "End their PostgreSQL logins and open sessions (what they own stays)"

    def do(self, ctx: StepContext) -> dict:
        db = self.db(ctx)
        if role_ours(db, ctx.username) is None:
            return {"sessions_ended": 0}
        # Logins first, so an ended session cannot come straight back.
        db.login_set(ctx.username, allowed=False)
        return {"sessions_ended": db.sessions_end(ctx.username)}

    def check(self, ctx: StepContext) -> dict | None:
        role = role_ours(self.db(ctx), ctx.username)
        if role is None or (not role.can_login and not role.sessions):
            return {"sessions_ended": 0}
        return None

    def undo(self, ctx: StepContext) -> None:
        if role_ours(self.db(ctx), ctx.username) is not None:
            self.db(ctx).login_set(ctx.username, allowed=True)


class TeamRolesRevoke(PostgresStep):
    name = "postgres_team_roles_removal"
    description = "Take their PostgreSQL role out of the teams' roles"

    def do(self, ctx: StepContext) -> dict:
        role = role_ours(self.db(ctx), ctx.username)
        held = sorted(roles_ours(role)) if role else []
        self.db(ctx).roles_revoke(ctx.username, held)
        return {"revoked": held}

    def check(self, ctx: StepContext) -> dict | None:
        role = role_ours(self.db(ctx), ctx.username)
        if role is None or not roles_ours(role):
            return {"revoked": []}
        return None

    def undo(self, ctx: StepContext) -> None:
        revoked = (ctx.record.external_ids if ctx.record else {}).get("revoked", [])
        if role_ours(self.db(ctx), ctx.username) is not None:
            self.db(ctx).roles_grant(ctx.username, revoked)


class TeamRolesSwitch(PostgresStep):
    name = "postgres_team_roles"
    description = "Switch their PostgreSQL roles to the new team's"

    def _change(self, ctx: StepContext, old: list[str], new: list[str], team: str) -> None:
        db = self.db(ctx)
        if role_ours(db, ctx.username) is None:
            raise NotFound(SYSTEM, f"{ctx.username} has no PostgreSQL role to move")
        grant(db, ctx.username, new, team=team)
        db.roles_revoke(ctx.username, sorted(set(old) - set(new)))

    def do(self, ctx: StepContext) -> dict:
        new = team_roles(ctx.team)
        self._change(ctx, team_roles(ctx.previous_team or ctx.team), new, ctx.team.name)
        return {"roles": new}

    def check(self, ctx: StepContext) -> dict | None:
        role = role_ours(self.db(ctx), ctx.username)
        if role is None:
            return None
        old, new = set(team_roles(ctx.previous_team or ctx.team)), set(team_roles(ctx.team))
        held = set(role.member_of)
        return {"roles": sorted(new)} if new <= held and not (old - new) & held else None

    def undo(self, ctx: StepContext) -> None:
        previous = ctx.previous_team or ctx.team
        self._change(ctx, team_roles(ctx.team), team_roles(previous), previous.name)


def person_roles_expected(person: Person) -> list[str]:
    return sorted({*team_roles(person.team), *login_roles()})


ROLE_GRANT = RoleGrant()
LOGIN_RESTORE = LoginRestore()
ROLE_REPAIR = RoleRepair()
LOGIN_END = LoginEnd()
TEAM_ROLES_REVOKE = TeamRolesRevoke()
TEAM_ROLES_SWITCH = TeamRolesSwitch()
