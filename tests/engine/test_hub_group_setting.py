"""JupyterHub's team setting, the hub group a team's members join: checked before anything is
saved, given by `team_set`'s old flag as well as `--setting`, and previewed by its own words."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import InvalidInput
from onboarding.models import AuditEvent, Team
from onboarding.selectors import team_change_preview
from onboarding.services import team_set
from onboarding.systems import systems_reset
from onboarding.systems.jupyterhub.steps import team_hub_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub_only(settings):
    # Only the hub: checking and storing its setting asks no system anything.
    settings.ACCESSADMIN_SYSTEMS = ["jupyterhub"]
    systems_reset()
    yield
    systems_reset()


@pytest.mark.parametrize(
    ("group", "says"),
    [
        ("Bad Name", "JupyterHub group: Group 'Bad Name' may only include"),
        (["hub-a"], "give the group's name as text, not list"),
        ("admin", "reserved"),
    ],
)
def test_a_bad_hub_group_is_refused_and_nothing_is_made(hub_only, group, says):
    with pytest.raises(InvalidInput, match=says):
        team_set(
            name="vision", group="team-vision", actor="admin",
            system_settings={"jupyterhub": {"group": group}},
        )  # fmt: skip

    assert not Team.objects.exists()
    assert not AuditEvent.objects.filter(action="team.create").exists()


def test_a_team_without_a_hub_group_joins_none(hub_only):
    team, _ = team_set(name="vision", group="team-vision", actor="admin")

    assert team.system_settings == {}
    assert team_hub_group(team) == ""


def test_the_old_flag_of_team_set_stores_the_setting(hub_only, capsys):
    call_command("team_set", "vision", "--group", "team-vision", "--jupyterhub-group", " hub-v ")

    team = Team.objects.get(name="vision")
    assert team.system_settings == {"jupyterhub": {"group": "hub-v"}}
    assert "jupyterhub.group hub-v" in capsys.readouterr().out


def test_the_old_flag_with_a_bad_group_exits_2_and_makes_nothing(hub_only):
    with pytest.raises(CommandError) as caught:
        call_command("team_set", "vision", "--group", "team-vision", "--jupyterhub-group", "A B")

    assert caught.value.returncode == 2
    assert "Group 'A B' may only include" in str(caught.value)
    assert not Team.objects.exists()


def test_a_hub_group_change_is_previewed_with_what_it_means(hub_only):
    team, _ = team_set(
        name="vision", group="team-vision", actor="admin",
        system_settings={"jupyterhub": {"group": "hub-old"}},
    )  # fmt: skip

    changes = team_change_preview(
        team, group="team-vision", leads=[], policy_arns=[],
        system_settings={"jupyterhub": {"group": "hub-new"}},
    )  # fmt: skip

    assert [(c.field, c.before, c.after) for c in changes] == [
        ("JupyterHub group", "hub-old", "hub-new")
    ]
