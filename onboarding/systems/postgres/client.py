"""The only module that talks to PostgreSQL: each person's LOGIN role, its memberships of the
teams' group roles, and their sessions, administered as a role with CREATEROLE (not a
superuser), so PostgreSQL itself refuses what that role may not do.

Every role name goes into SQL as an identifier (`sql.Identifier`), never as text. A role this
module makes carries a comment naming it as a person's (`COMMENT ON ROLE`), so one made by hand
under the same name is never taken for ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
from django.conf import settings
from psycopg import errors, sql

from onboarding.errors import (
    AlreadyExists,
    NotFound,
    PermanentError,
    TransientError,
)
from onboarding.systems._counting import RoundTrips, request_allowed

SYSTEM = "postgres"
# The comment on a role AccessAdmin made for a person; the username follows it.
TAG = "AccessAdmin person role: "
# RDS's role that lets a role log in with an IAM token instead of a password.
RDS_IAM = "rds_iam"

T = TypeVar("T")
# What libpq says when the server answers but will not let the administering role in: no retry
# helps until someone fixes the password, the role or pg_hba.conf.
_LOGIN_REFUSED = ("authentication failed", "no pg_hba.conf entry", "does not exist")


@dataclass(frozen=True)
class Role:
    name: str
    can_login: bool
    managed: bool  # carries AccessAdmin's comment for this very name
    member_of: tuple[str, ...]
    sessions: int
    # The memberships the administering role granted: a role a team no longer names stays one
    # of these, so repairs and offboarding still take it away.
    granted_by_us: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rights:
    """What the administering role may do, as PostgreSQL says."""

    role: str
    superuser: bool
    create_role: bool
    signal_backend: bool
    server_version: int


def tag_for(name: str) -> str:
    return f"{TAG}{name}"


_ROLES = """
SELECT r.rolname, r.rolcanlogin,
       coalesce(shobj_description(r.oid, 'pg_authid'), '') = %(tag)s || r.rolname,
       coalesce(array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                      WHERE m.member = r.oid ORDER BY g.rolname), '{}'),
       (SELECT count(*) FROM pg_stat_activity a WHERE a.usesysid = r.oid),
       coalesce(array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                      JOIN pg_roles me ON me.oid = m.grantor
                      WHERE m.member = r.oid AND me.rolname = current_user
                      ORDER BY g.rolname), '{}')
FROM pg_roles r
"""


class PostgresAccess:
    """The administering connection: one short-lived connection per call, with timeouts."""

    def __init__(self, url: str, *, password: str = "", timeout: int = 10) -> None:
        self.url = url
        self.password = password
        self.timeout = timeout
        self._trips = RoundTrips()

    @classmethod
    def from_settings(cls) -> PostgresAccess:
        return cls(
            settings.POSTGRES_ACCESS_URL,
            password=settings.POSTGRES_ACCESS_PASSWORD,
            timeout=settings.POSTGRES_TIMEOUT_SECONDS,
        )

    @property
    def round_trips(self) -> int:
        return self._trips.count

    @property
    def where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or 5432}{parts.path}"

    def _call(self, what: str, work: Callable[[psycopg.Connection], T]) -> T:
        request_allowed()
        self._trips.add()
        options: dict[str, Any] = {
            "connect_timeout": self.timeout,
            "autocommit": True,
            # A lock held elsewhere, or a slow server, must not hang a worker.
            "options": f"-c statement_timeout={self.timeout * 1000} "
            f"-c lock_timeout={self.timeout * 1000}",
            "application_name": "accessadmin",
        }
        if self.password:
            options["password"] = self.password
        try:
            with psycopg.connect(self.url, **options) as connection:
                return work(connection)
        except errors.InsufficientPrivilege as error:
            raise PermanentError(SYSTEM, f"{what}: refused by PostgreSQL: {_said(error)}") from None
        except errors.UndefinedObject as error:
            raise NotFound(SYSTEM, f"{what}: {_said(error)}") from None
        except errors.DuplicateObject as error:
            raise AlreadyExists(SYSTEM, f"{what}: {_said(error)}") from None
        except (errors.QueryCanceled, errors.LockNotAvailable) as error:
            raise TransientError(SYSTEM, f"{what}: timed out: {_said(error)}") from None
        except psycopg.OperationalError as error:
            said = _said(error)
            if any(words in said for words in _LOGIN_REFUSED):
                raise PermanentError(
                    SYSTEM, f"{what}: {self.where} refuses the administering role: {said}"
                ) from None
            raise TransientError(SYSTEM, f"{what}: cannot reach {self.where}: {said}") from None
        except psycopg.Error as error:
            raise PermanentError(SYSTEM, f"{what}: {_said(error)}") from None

    def _roles(
        self, connection: psycopg.Connection, where: sql.Composable, params: dict
    ) -> list[Role]:
        rows = connection.execute(
            sql.SQL(_ROLES) + sql.SQL(" WHERE ") + where + sql.SQL(" ORDER BY r.rolname"),
            {"tag": TAG, **params},
        ).fetchall()
        return [Role(name, login, managed, tuple(groups), sessions, tuple(ours))
                for name, login, managed, groups, sessions, ours in rows]  # fmt: skip

    def role_find(self, name: str) -> Role | None:
        found = self._call(
            f"look up role {name}",
            lambda c: self._roles(c, sql.SQL("r.rolname = %(name)s"), {"name": name}),
        )
        return found[0] if found else None

    def roles_managed(self) -> list[Role]:
        """Every role that carries AccessAdmin's comment for its name: one query."""
        return self._call(
            "list the roles AccessAdmin made",
            lambda c: self._roles(
                c,
                sql.SQL(
                    "coalesce(shobj_description(r.oid, 'pg_authid'), '') = %(tag)s || r.rolname"
                ),
                {},
            ),
        )

    def roles_missing(self, names: Iterable[str]) -> list[str]:
        wanted = sorted(set(names))
        if not wanted:
            return []
        found = self._call(
            "look up the team roles",
            lambda c: {
                row[0]
                for row in c.execute(
                    "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (wanted,)
                ).fetchall()
            },
        )
        return [name for name in wanted if name not in found]

    def person_role_create(self, name: str) -> None:
        """A LOGIN role with no password (the server authenticates them), tagged as ours."""

        def work(connection: psycopg.Connection) -> None:
            with connection.transaction():
                connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
                connection.execute(
                    sql.SQL("COMMENT ON ROLE {} IS {}").format(
                        sql.Identifier(name), sql.Literal(tag_for(name))
                    )
                )

        self._call(f"create role {name}", work)

    def login_set(self, name: str, *, allowed: bool) -> None:
        verb = sql.SQL("LOGIN" if allowed else "NOLOGIN")
        self._call(
            f"{'allow' if allowed else 'end'} logins of role {name}",
            lambda c: c.execute(sql.SQL("ALTER ROLE {} ").format(sql.Identifier(name)) + verb),
        )

    def roles_grant(self, name: str, roles: Iterable[str]) -> None:
        roles = sorted(set(roles))
        if roles:
            self._call(
                f"grant {', '.join(roles)} to {name}",
                lambda c: c.execute(
                    sql.SQL("GRANT {} TO {}").format(
                        sql.SQL(", ").join(map(sql.Identifier, roles)), sql.Identifier(name)
                    )
                ),
            )

    def roles_revoke(self, name: str, roles: Iterable[str]) -> None:
        roles = sorted(set(roles))
        if roles:
            self._call(
                f"revoke {', '.join(roles)} from {name}",
                lambda c: c.execute(
                    sql.SQL("REVOKE {} FROM {}").format(
                        sql.SQL(", ").join(map(sql.Identifier, roles)), sql.Identifier(name)
                    )
                ),
            )

    def sessions_end(self, name: str) -> int:
        """End the role's open sessions; what they own and wrote stays."""
        return self._call(
            f"end the sessions of {name}",
            lambda c: sum(
                1
                for (ended,) in c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE usename = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchall()
                if ended
            ),
        )

    def role_drop(self, name: str) -> None:
        self._call(
            f"drop role {name}",
            lambda c: c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name))),
        )

    def rights(self) -> Rights:
        row = self._call(
            "read the administering role's rights",
            lambda c: c.execute(
                "SELECT current_user, rolsuper, rolcreaterole, "
                "pg_has_role('pg_signal_backend', 'MEMBER'), "
                "current_setting('server_version_num')::int "
                "FROM pg_roles WHERE rolname = current_user"
            ).fetchone(),
        )
        return Rights(*row)

    def may_grant(self, roles: Iterable[str]) -> dict[str, bool]:
        """Whether the administering role may grant each (existing) role: with ADMIN OPTION on
        it, or, before PostgreSQL 16, with CREATEROLE."""
        roles = sorted(set(roles))
        if not roles:
            return {}
        rows = self._call(
            "read which team roles the administering role may grant",
            lambda c: c.execute(
                "SELECT r.rolname, me.rolsuper OR NOT r.rolsuper AND ("
                " (current_setting('server_version_num')::int < 160000 AND me.rolcreaterole)"
                " OR pg_has_role(r.oid, 'USAGE WITH ADMIN OPTION'))"
                " FROM pg_roles r, pg_roles me"
                " WHERE me.rolname = current_user AND r.rolname = ANY(%s)",
                (roles,),
            ).fetchall(),
        )
        return dict(rows)

    def whoami(self) -> str:
        rights = self.rights()
        return f"role {rights.role} on {self.where} (PostgreSQL {rights.server_version})"


def _said(error: psycopg.Error) -> str:
    return (error.diag.message_primary or str(error)).strip().splitlines()[0]
