"""The PostgreSQL client and system against the sandbox's own cluster, administered as a role
with CREATEROLE and pg_signal_backend only: what it may not do, PostgreSQL refuses."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from onboarding.errors import AlreadyExists, InvalidInput, NotFound, PermanentError, TransientError
from onboarding.systems.postgres import PostgresSystem, role_name_check
from onboarding.systems.postgres import steps as s
from onboarding.systems.postgres.client import PostgresAccess, tag_for
from sandbox.postgres import PASSWORD_GROUP
from tests.stack import stack_services

postgres_stack = stack_services("directory", "postgres")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def access(postgres_stack) -> PostgresAccess:
    return PostgresAccess(
        postgres_stack["POSTGRES_ACCESS_URL"],
        password=postgres_stack["POSTGRES_ACCESS_PASSWORD"],
        timeout=5,
    )


def admin_sql(stack: dict[str, str], statement: sql.Composable) -> None:
    """A statement as the administering role, the way a database admin would type it."""
    with psycopg.connect(
        stack["POSTGRES_ACCESS_URL"], password=stack["POSTGRES_ACCESS_PASSWORD"], autocommit=True
    ) as connection:
        connection.execute(statement)


@pytest.fixture
def administering_as(postgres_stack) -> Iterator:
    """Makes another administering role with just the given attributes and roles, and a client
    that logs in as it."""
    made = []

    def make(attributes: str, *roles: str) -> PostgresAccess:
        name, password = unique("admin_"), secrets.token_urlsafe(16)
        admin_sql(
            postgres_stack,
            sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {} IN ROLE {}").format(
                sql.Identifier(name), sql.SQL(attributes), sql.Literal(password),
                sql.SQL(", ").join(map(sql.Identifier, (PASSWORD_GROUP, *roles))),
            ),
        )  # fmt: skip
        made.append(name)
        url = postgres_stack["POSTGRES_ACCESS_URL"].replace("accessadmin@", f"{name}@")
        return PostgresAccess(url, password=password, timeout=5)

    yield make
    for name in made:
        admin_sql(postgres_stack, sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def session_of(stack: dict[str, str], access: PostgresAccess, name: str) -> psycopg.Connection:
    """An open session of role `name`, logged in with a password it is given for the test."""
    password = secrets.token_urlsafe(16)
    admin_sql(
        stack,
        sql.SQL("ALTER ROLE {} PASSWORD {}; GRANT {} TO {}").format(
            sql.Identifier(name), sql.Literal(password),
            sql.Identifier(PASSWORD_GROUP), sql.Identifier(name),
        ),
    )  # fmt: skip
    url = stack["POSTGRES_ACCESS_URL"].replace("accessadmin@", f"{name}@")
    return psycopg.connect(url, password=password, autocommit=True)


def test_a_person_role_logs_in_has_no_password_and_carries_accessadmins_comment(
    access, postgres_stack
):
    name = unique("p")
    access.person_role_create(name)

    role = access.role_find(name)
    assert role.can_login and role.managed and role.member_of == () and role.sessions == 0
    assert name in [each.name for each in access.roles_managed()]
    with psycopg.connect(
        postgres_stack["POSTGRES_ACCESS_URL"], password=postgres_stack["POSTGRES_ACCESS_PASSWORD"]
    ) as connection:
        (comment,) = connection.execute(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (name,)
        ).fetchone()
    assert comment == tag_for(name)


def test_a_role_made_by_hand_is_never_taken_for_a_persons(access, postgres_stack, db):
    name = unique("h")
    admin_sql(postgres_stack, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    # Even a comment copied from another person's role does not make it ours.
    other = unique("p")
    admin_sql(
        postgres_stack,
        sql.SQL("COMMENT ON ROLE {} IS {}").format(
            sql.Identifier(name), sql.Literal(tag_for(other))
        ),
    )

    assert not access.role_find(name).managed
    assert name not in [each.name for each in access.roles_managed()]
    system = PostgresSystem()
    system._client = access
    assert "AccessAdmin did not make" in system.onboard_problem(name)
    with pytest.raises(PermanentError, match=f"a role {name} exists that AccessAdmin did not make"):
        s.role_ours(access, name)
    with pytest.raises(AlreadyExists):
        access.person_role_create(name)
    assert not access.role_find(name).managed


def test_a_missing_team_role_is_named_and_nothing_is_granted(access):
    name = unique("p")
    access.person_role_create(name)

    with pytest.raises(NotFound, match="role\\(s\\) no_such_team_role do not exist in PostgreSQL"):
        s.grant(access, name, ["no_such_team_role"], team="vision")

    assert access.role_find(name).member_of == ()


def test_offboarding_calls_end_logins_and_sessions_and_keep_what_the_role_owns(
    access, postgres_stack
):
    name, team_role = unique("p"), unique("team_")
    admin_sql(postgres_stack, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(team_role)))
    access.person_role_create(name)
    access.roles_grant(name, [team_role])
    session = session_of(postgres_stack, access, name)
    session.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(f"t_{name}")))

    access.login_set(name, allowed=False)
    assert access.sessions_end(name) == 1
    access.roles_revoke(name, [team_role])

    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    role = access.role_find(name)
    assert (role.can_login, role.sessions) == (False, 0)
    assert team_role not in role.member_of
    with psycopg.connect(
        postgres_stack["POSTGRES_ACCESS_URL"], password=postgres_stack["POSTGRES_ACCESS_PASSWORD"]
    ) as connection:
        owner = connection.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = %s", (f"t_{name}",)
        ).fetchone()
    assert owner == (name,)


def test_administering_without_createrole_is_refused_by_postgresql(administering_as):
    weak = administering_as("NOCREATEROLE")
    name = unique("p")

    with pytest.raises(
        PermanentError, match="refused by PostgreSQL: permission denied to create role"
    ):
        weak.person_role_create(name)

    assert weak.role_find(name) is None


def test_administering_without_pg_signal_backend_cannot_end_a_leavers_sessions(
    administering_as, access, postgres_stack, db
):
    limited = administering_as("CREATEROLE")
    name = unique("p")
    limited.person_role_create(name)
    session = session_of(postgres_stack, access, name)

    with pytest.raises(
        PermanentError, match="refused by PostgreSQL: must be a member of the role whose process"
    ):
        limited.sessions_end(name)

    assert session.execute("SELECT 1").fetchone() == (1,)
    system = PostgresSystem()
    system._client = limited
    checks = {check.subject: check for check in system.preflight()}
    assert checks["pg_signal_backend"].failed
    assert "GRANT pg_signal_backend TO" in checks["pg_signal_backend"].fix
    session.close()


def test_the_sandboxs_administering_role_passes_preflight(access, db):
    system = PostgresSystem()
    system._client = access

    checks = system.preflight()

    assert [check for check in checks if check.verdict != "ok"] == []
    assert "role accessadmin on 127.0.0.1" in checks[0].detail


def test_a_database_that_does_not_answer_is_a_transient_error(closed_url):
    port = closed_url.rsplit(":", 1)[1]
    down = PostgresAccess(f"postgres://accessadmin@127.0.0.1:{port}/platform", timeout=2)

    with pytest.raises(TransientError, match=r"cannot reach 127\.0\.0\.1"):
        down.role_find("anyone")


def test_a_wrong_administering_password_is_permanent(postgres_stack):
    wrong = PostgresAccess(postgres_stack["POSTGRES_ACCESS_URL"], password="wrong", timeout=5)

    with pytest.raises(PermanentError, match="refuses the administering role") as refused:
        wrong.role_find("anyone")

    assert not isinstance(refused.value, TransientError)


@pytest.mark.parametrize("name", ["Analysts", "pg_monitor", "a-b", "1abc", "x" * 64, "a;drop"])
def test_a_team_role_name_that_is_not_a_plain_role_name_is_refused(name):
    with pytest.raises(InvalidInput, match="is not a role name"):
        role_name_check(name)


@pytest.mark.parametrize(
    ("url", "password", "says"),
    [
        ("", "", "POSTGRES_ACCESS_URL is not set"),
        ("postgres://db.example.test/platform", "", "must name the host, the administering role"),
        ("postgres://a:pw@db.example.test/platform", "pw2", "carries a password and"),
    ],
)
def test_settings_problems_name_what_is_wrong_and_ask_nothing(settings, url, password, says):
    settings.POSTGRES_ACCESS_URL, settings.POSTGRES_ACCESS_PASSWORD = url, password

    (problem,) = PostgresSystem().settings_problems()

    assert says in problem


def test_newcomers_are_told_where_the_database_is(settings):
    settings.POSTGRES_ACCESS_URL = "postgres://accessadmin@db.example.test:6432/platform"

    assert PostgresSystem().login_link() == (
        "PostgreSQL (your username and password)",
        "db.example.test:6432, database platform",
    )
