"""With PostgreSQL enabled as the fifth system: a person onboarded logs in to the local cluster
with their FreeIPA password, the database asking the directory; offboarded, they cannot, and
their open session is gone; reinstated, they can again."""

from __future__ import annotations

import psycopg
import pytest
from django.contrib.auth import get_user_model
from psycopg import sql

from onboarding.credentials import credentials_reveal
from onboarding.errors import InvalidInput, TransientError
from onboarding.models import Finding, LifecycleRun, Person
from onboarding.plans import plan_for
from onboarding.preflight import preflight_run
from onboarding.services import (
    person_move,
    person_offboard,
    person_reinstate,
    run_resume,
    team_members_apply,
    team_set,
)
from onboarding.services.orphans import orphan_remove
from onboarding.systems import system, systems_reset
from onboarding.systems.jupyterhub.steps import team_hub_group
from onboarding.systems.postgres.client import tag_for
from sandbox import process
from tests.lifecycle.conftest import onboard, unique
from tests.lifecycle.observe import freeipa_change_password, totp_codes
from tests.lifecycle.test_reconcile import reconcile_command

pytestmark = pytest.mark.django_db(transaction=True)

SYSTEMS = ["freeipa", "efs", "iam", "jupyterhub", "postgres"]


def admin_sql(stack: dict[str, str], statement: sql.Composable) -> None:
    with psycopg.connect(
        stack["POSTGRES_ACCESS_URL"], password=stack["POSTGRES_ACCESS_PASSWORD"], autocommit=True
    ) as connection:
        connection.execute(statement)


def connect_as(stack: dict[str, str], username: str, password: str) -> psycopg.Connection:
    url = stack["POSTGRES_ACCESS_URL"].replace("accessadmin@", f"{username}@")
    return psycopg.connect(url, password=password, autocommit=True, connect_timeout=5)


def can_connect(stack: dict[str, str], username: str, password: str) -> bool:
    try:
        connect_as(stack, username, password).close()
        return True
    except psycopg.OperationalError:
        return False


def member_of(stack: dict[str, str], username: str) -> set[str]:
    with psycopg.connect(
        stack["POSTGRES_ACCESS_URL"], password=stack["POSTGRES_ACCESS_PASSWORD"]
    ) as connection:
        rows = connection.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s",
            (username,),
        ).fetchall()
    return {name for (name,) in rows}


@pytest.fixture
def postgres_on(stack_configured, settings):
    settings.ACCESSADMIN_SYSTEMS = SYSTEMS
    settings.POSTGRES_ACCESS_URL = stack_configured["POSTGRES_ACCESS_URL"]
    settings.POSTGRES_ACCESS_PASSWORD = stack_configured["POSTGRES_ACCESS_PASSWORD"]
    systems_reset()
    yield stack_configured
    systems_reset()


def team_with_roles(stack: dict[str, str], *roles: str):
    for role in roles:
        admin_sql(stack, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    name = unique("team-")
    team, _ = team_set(
        name=name, group=name, actor="test",
        system_settings={"jupyterhub": {"group": name}, "postgres": {"roles": ", ".join(roles)}},
    )  # fmt: skip
    return team


def password_set(stack: dict[str, str], run: LifecycleRun, username: str, new: str) -> None:
    """What the person does with their hand-over: the temporary password changed, with a code."""
    handed = credentials_reveal(run=run, actor="admin")
    (code,) = totp_codes(handed["otp_enrolment"], 1)
    freeipa_change_password(stack, username, handed["temporary_password"], new, code)


def test_a_person_connects_with_their_freeipa_password_until_offboarded_and_again_reinstated(
    eager, postgres_on, username
):
    stack = postgres_on
    readers = unique("readers_")
    team = team_with_roles(stack, readers)

    run = onboard(username, team)

    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    assert "postgres_role" in set(run.steps.values_list("name", flat=True))
    assert member_of(stack, username) == {readers}
    password_set(stack, run, username, "Chosen-by-them-42")
    session = connect_as(stack, username, "Chosen-by-them-42")
    assert session.execute("SELECT current_user").fetchone() == (username,)
    assert not can_connect(stack, username, "not-their-password")
    state = system("postgres").person_state(Person.objects.get(username=username))
    assert state.present and "may log in" in state.summary

    offboarding = person_offboard(
        person=Person.objects.get(username=username), reason="left", actor="admin"
    )
    offboarding.refresh_from_db()

    assert offboarding.state == LifecycleRun.State.SUCCEEDED, offboarding.error
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    assert not can_connect(stack, username, "Chosen-by-them-42")
    assert member_of(stack, username) == set()
    assert username not in {item.username for item in system("postgres").inventory()}

    reinstating = person_reinstate(
        person=Person.objects.get(username=username), reason="back", actor="admin"
    )
    reinstating.refresh_from_db()

    assert reinstating.state == LifecycleRun.State.SUCCEEDED, reinstating.error
    password_set(stack, reinstating, username, "Back-again-2026")
    assert can_connect(stack, username, "Back-again-2026")
    assert member_of(stack, username) == {readers}


def test_a_move_swaps_the_team_roles(eager, postgres_on, username):
    stack = postgres_on
    old_role, new_role = unique("old_"), unique("new_")
    team, other = team_with_roles(stack, old_role), team_with_roles(stack, new_role)
    onboard(username, team)

    run = person_move(person=Person.objects.get(username=username), team=other, actor="admin")
    run.refresh_from_db()

    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    assert member_of(stack, username) == {new_role}


def test_a_hand_made_role_with_the_persons_name_is_refused_not_adopted(
    eager, postgres_on, username
):
    stack = postgres_on
    team = team_with_roles(stack, unique("readers_"))
    admin_sql(stack, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(username)))

    with pytest.raises(
        InvalidInput, match=r"PostgreSQL has a role \w+ that AccessAdmin did not make"
    ):
        onboard(username, team)

    assert not Person.objects.filter(username=username).exists()
    assert member_of(stack, username) == set()


def test_a_team_role_that_is_missing_is_refused_and_one_dropped_later_stops_the_run(
    eager, postgres_on, username
):
    stack = postgres_on
    dropped = unique("dropped_")
    team = team_with_roles(stack, dropped)
    missing = unique("gone_")

    with pytest.raises(InvalidInput, match=f"PostgreSQL has no role\\(s\\) {missing}"):
        team_set(name=team.name, system_settings={"postgres": {"roles": missing}}, actor="t")
    admin_sql(stack, sql.SQL("DROP ROLE {}").format(sql.Identifier(dropped)))
    run = onboard(username, team)

    team.refresh_from_db()
    assert team.system_settings["postgres"] == {"roles": [dropped]}
    assert run.state == LifecycleRun.State.FAILED
    assert f"{dropped} do not exist in PostgreSQL" in run.error
    assert member_of(stack, username) == set()


def test_with_the_database_down_nobody_is_onboarded_and_a_move_waits_for_it(
    eager, postgres_on, username, settings
):
    stack = postgres_on
    team, other = team_with_roles(stack, unique("old_")), team_with_roles(stack, unique("new_"))
    onboard(username, team)
    settings.LIFECYCLE_RETRY_BASE_SECONDS = 0
    settings.CELERY_TASK_MAX_RETRIES = 1
    answering = settings.POSTGRES_ACCESS_URL
    settings.POSTGRES_ACCESS_URL = (
        f"postgres://accessadmin@127.0.0.1:{process.free_port()}/platform"
    )
    systems_reset()

    with pytest.raises(TransientError, match="cannot reach"):
        onboard(unique("u"), team)
    move = person_move(person=Person.objects.get(username=username), team=other, actor="admin")
    move.refresh_from_db()

    assert Person.objects.count() == 1
    assert move.state == LifecycleRun.State.FAILED
    assert "gave up after 1 retries: postgres:" in move.error and "cannot reach" in move.error
    settings.POSTGRES_ACCESS_URL = answering
    systems_reset()
    run_resume(run=move, actor="admin")
    move.refresh_from_db()
    assert move.state == LifecycleRun.State.SUCCEEDED, move.error
    assert member_of(stack, username) == set(other.system_settings["postgres"]["roles"])


def test_roles_changed_by_hand_are_found_and_repaired_and_an_orphan_loses_its_login(
    eager, postgres_on, username
):
    stack = postgres_on
    readers, other = unique("readers_"), unique("other_")
    team = team_with_roles(stack, readers)
    other_team = team_with_roles(stack, other)
    onboard(username, team)
    ghost = unique("ghost")
    admin_sql(stack, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(ghost)))
    admin_sql(
        stack,
        sql.SQL("COMMENT ON ROLE {} IS {}").format(
            sql.Identifier(ghost), sql.Literal(tag_for(ghost))
        ),
    )
    admin_sql(stack, sql.SQL("REVOKE {} FROM {}").format(*map(sql.Identifier, (readers, username))))
    admin_sql(stack, sql.SQL("GRANT {} TO {}").format(*map(sql.Identifier, (other, username))))

    code, findings = reconcile_command()

    assert code == 1
    mine = [f for f in findings if f["username"] == username and f["system"] == "postgres"]
    assert [(f["kind"], f["subject"]) for f in mine] == [("differs", "login role")]
    assert readers in mine[0]["detail"] and other in mine[0]["detail"]
    (orphan,) = Finding.objects.filter(username=ghost, system="postgres", resolved_at=None)
    assert orphan.kind == "orphan"

    _, output = reconcile_command("--repair", username)
    (repair,) = [row for row in output if "repair" in row]
    assert LifecycleRun.objects.get(pk=repair["run"]).state == LifecycleRun.State.SUCCEEDED
    assert member_of(stack, username) == {readers}
    assert other_team.system_settings["postgres"]["roles"] == [other]

    orphan_remove(finding=orphan, actor="root")
    role = system("postgres").client.role_find(ghost)
    assert (role.can_login, role.managed) == (False, True)


def test_a_teams_new_roles_reach_its_members_when_the_team_is_applied(eager, postgres_on, username):
    stack = postgres_on
    before, after = unique("before_"), unique("after_")
    team = team_with_roles(stack, before)
    admin_sql(stack, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(after)))
    onboard(username, team)

    team, _ = team_set(name=team.name, system_settings={"postgres": {"roles": after}}, actor="t")
    assert member_of(stack, username) == {before}
    (outcome,) = team_members_apply(team=team, actor="admin")
    outcome.run.refresh_from_db()

    assert outcome.run.state == LifecycleRun.State.SUCCEEDED, outcome.run.error
    assert member_of(stack, username) == {after}


def test_preflight_and_plans_show_the_fifth_system_and_a_reset_leaves_it_alone(postgres_on):
    checks = [check for label, check in preflight_run() if label == "PostgreSQL"]

    assert checks and [check for check in checks if check.verdict != "ok"] == []
    assert "postgres_role" in [step.name for step in plan_for("onboard").steps]
    assert "postgres_login_end" in [step.name for step in plan_for("offboard").steps]
    assert [step for step in plan_for("reset").steps if step.system == "postgres"] == []


def test_the_team_form_asks_the_database_about_the_roles_it_is_given(postgres_on, client):
    stack = postgres_on
    team = team_with_roles(stack)
    readers, missing = unique("readers_"), unique("gone_")
    admin_sql(stack, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(readers)))
    admin = get_user_model().objects.create_superuser(unique("root-"), password="x")
    client.force_login(admin, "django.contrib.auth.backends.ModelBackend")
    form = {"freeipa_group": team.freeipa_group, "leads": "", "iam_policy_arns": "",
            "jupyterhub.group": team_hub_group(team), "action": "save"}  # fmt: skip

    refused = client.post(f"/teams/{team.name}/", {**form, "postgres.roles": missing})
    client.post(f"/teams/{team.name}/", {**form, "postgres.roles": readers})

    assert f"PostgreSQL has no role(s) {missing}" in refused.content.decode()
    team.refresh_from_db()
    assert team.system_settings["postgres"] == {"roles": [readers]}
