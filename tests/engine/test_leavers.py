"""A leaver loses every access at once, and nobody keeps or gains access they should not have:
the engine's side (plans, lead roles, sessions, names, limits), through the fake system."""

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import InvalidInput, PermanentError, TooManyRequests
from onboarding.models import AuditEvent, LifecycleRun, Person, Team
from onboarding.plans import plan_for
from onboarding.services import person_offboard, team_set
from onboarding.systems import systems_reset
from onboarding.systems.jupyterhub.client import _group_path, _user_path
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)


def test_offboarding_cuts_access_off_before_anything_else(settings):
    settings.ACCESSADMIN_SYSTEMS = ["freeipa", "efs", "iam", "jupyterhub"]
    systems_reset()
    try:
        plan = plan_for(LifecycleRun.Kind.OFFBOARD)
    finally:
        systems_reset()
    first = {step.name for step in plan.steps if plan.stage_of[step.name] == "cut_off"}
    assert first == {"freeipa_disable", "jupyterhub_servers_stop", "freeipa_lead_roles_removal"}
    for step in plan.steps:
        if step.name not in first:
            assert first <= plan.needs[step.name], step.name


def session_of(user: User) -> str:
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session.create()
    return session.session_key


def test_asking_to_offboard_a_lead_ends_their_sessions_and_lead_roles_at_once(fake, team):
    onboard("lea", team)
    lea = User.objects.create(username="lea")
    other = User.objects.create(username="max")
    team.leads.add(lea, other)
    theirs, someone_elses = session_of(lea), session_of(other)
    fake.fail("account_set", PermanentError("fake", "the disable step fails"))

    run = person_offboard(person=person("lea"), reason="left", actor="admin")

    run.refresh_from_db()
    assert run.state == LifecycleRun.State.FAILED  # the run itself got nowhere ...
    assert not Session.objects.filter(session_key=theirs).exists()  # ... they are out anyway
    assert Session.objects.filter(session_key=someone_elses).exists()
    assert list(team.leads.values_list("username", flat=True)) == ["max"]
    assert AuditEvent.objects.filter(action="team.change", details__leads_removed=["lea"]).exists()


def test_team_leads_are_set_to_exactly_the_list_given(fake, team):
    for name in ("ann", "bob"):
        onboard(name, team)
    team_set(name=team.name, leads=["ann", "bob"], actor="admin")
    team_set(name=team.name, leads=["bob"], actor="admin")
    assert list(team.leads.values_list("username", flat=True)) == ["bob"]
    change = AuditEvent.objects.filter(action="team.change").order_by("id").last()
    assert change.details["leads_removed"] == ["ann"]
    team_set(name=team.name, leads=None, actor="admin")  # unchanged when not given
    assert list(team.leads.values_list("username", flat=True)) == ["bob"]
    call_command("team_set", team.name, "--no-leads")
    assert not team.leads.exists()


def test_an_offboarded_person_cannot_be_made_a_lead_and_every_problem_is_named(fake, team):
    onboard("cat", team)
    Person.objects.filter(username="cat").update(status=Person.Status.OFFBOARDED)
    before = (list(Team.objects.values_list("name", "system_settings")), team.leads.count())
    with pytest.raises(InvalidInput) as refused:
        team_set(
            name=team.name, leads=["cat"], policy_arns=["nope"], actor="admin",
            system_settings={"jupyterhub": {"group": ".."}},
        )  # fmt: skip
    message = str(refused.value)
    assert "cat is offboarded and cannot lead a team." in message
    assert "There is no team setting jupyterhub.group" in message
    assert "'nope' is not an IAM policy ARN." in message
    assert (
        list(Team.objects.values_list("name", "system_settings")),
        team.leads.count(),
    ) == before


@pytest.mark.parametrize(
    ("username", "why"),
    [
        (".", "must start with a letter"),
        ("..", "must start with a letter"),
        (".hidden", "must start with a letter"),
        ("root", "reserved for a system account"),
        ("Admin", "reserved for a system account"),
        ("breakglass", "belongs to a local AccessAdmin account"),
    ],
)
def test_names_that_are_paths_system_accounts_or_local_accounts_are_refused(
    fake, team, username, why
):
    User.objects.create_user("breakglass", password="A-local-password-1")
    with pytest.raises(CommandError) as refused:
        call_command(
            "person_onboard", username, "--first-name", "A", "--last-name", "B",
            "--email", "a@example.test", "--team", team.name,
        )  # fmt: skip
    assert refused.value.returncode == 2
    assert why in str(refused.value)
    assert not Person.objects.exists()
    assert fake.accounts == {}


@pytest.mark.parametrize("name", [".", "..", ""])
def test_no_name_can_turn_a_hub_api_call_into_another_endpoint(name):
    for path in (_user_path, _group_path):
        with pytest.raises(PermanentError, match="cannot be a hub user or group name"):
            path(name)
    assert _user_path("a.b") == "/users/a.b"
    assert _user_path("a/../b") == "/users/a%2F..%2Fb"


def test_one_actor_cannot_start_more_runs_an_hour_than_allowed(fake, team, settings):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 2
    onboard("dan", team)
    onboard("eve", team)
    with pytest.raises(TooManyRequests, match="admin asked for 2 runs in the last hour") as limited:
        onboard("fay", team)
    # The first of the two runs frees a place when it is an hour old.
    assert 3500 < limited.value.retry_after <= 3600
    # Another actor has their own allowance, and meets the same limit.
    for username in ("fay", "gus", "hal"):
        runs = LifecycleRun.objects.count()
        try:
            call_command(
                "person_onboard", username, "--first-name", "F", "--last-name", "L",
                "--email", f"{username}@example.test", "--team", team.name,
            )  # fmt: skip
        except CommandError as refused:
            assert (username, refused.returncode) == ("hal", 4)
    assert LifecycleRun.objects.count() == runs
    assert not Person.objects.filter(username="hal").exists()


def test_offboardings_are_never_held_back_by_the_hourly_limit(fake, team, settings):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 0
    for username in ("dan", "eve", "fay"):
        onboard(username, team)
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 1
    onboard("gus", team)
    with pytest.raises(TooManyRequests):
        onboard("hal", team)
    for username in ("dan", "eve", "fay"):
        person_offboard(person=person(username), reason="left", actor="admin")
        assert person(username).status == Person.Status.OFFBOARDED


def test_a_reason_as_long_as_a_book_is_refused(fake, team):
    onboard("gus", team)
    with pytest.raises(CommandError) as refused:
        call_command("person_offboard", "gus", "--reason", "x" * 2_000_000)
    assert refused.value.returncode == 2
    assert "at most 1000" in str(refused.value)
    assert person("gus").status == Person.Status.ACTIVE
