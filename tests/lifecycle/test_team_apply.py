"""A change to a team reaches the people already in it: each active member's repair run makes
their role, groups and hub group what the team now says."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from onboarding.models import LifecycleRun, Person
from onboarding.services import team_set
from tests.lifecycle.conftest import BATCH_POLICY, READ_ONLY_POLICY, onboard, unique
from tests.lifecycle.observe import attached_policies, roles

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_team_policy_change_applied_to_three_members_updates_all_three_roles(
    stack_configured, eager, team
):
    members = [unique("m") for _ in range(3)]
    for username in members:
        assert onboard(username, team).state == LifecycleRun.State.SUCCEEDED
    leaver = unique("m")
    onboard(leaver, team)
    Person.objects.filter(username=leaver).update(status=Person.Status.OFFBOARDED)

    team_set(name=team.name, policy_arns=[READ_ONLY_POLICY, BATCH_POLICY], actor="admin")
    # Saving the team changes nobody's role yet.
    (role,) = roles(stack_configured, members[0])
    assert attached_policies(stack_configured, role["RoleName"]) == {READ_ONLY_POLICY}

    preview = io.StringIO()
    call_command("team_members_apply", team.name, "--dry-run", stdout=preview)
    assert all(f"{username}:" in preview.getvalue() for username in members)
    assert leaver not in preview.getvalue()

    out = io.StringIO()
    call_command("team_members_apply", team.name, stdout=out)
    assert out.getvalue().count("queued") == 3, out.getvalue()
    for username in members:
        run = LifecycleRun.objects.filter(person__username=username).latest("pk")
        assert (run.kind, run.state) == ("repair", LifecycleRun.State.SUCCEEDED), run.error
        (role,) = roles(stack_configured, username)
        assert attached_policies(stack_configured, role["RoleName"]) == {
            READ_ONLY_POLICY, BATCH_POLICY,
        }  # fmt: skip
    assert not LifecycleRun.objects.filter(person__username=leaver, kind="repair").exists()
