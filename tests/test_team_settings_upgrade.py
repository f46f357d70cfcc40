"""A team's JupyterHub group, once a column of its own, becomes the JupyterHub system's team
setting on upgrade and goes back into the column on downgrade, other settings untouched."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from onboarding.models import Team
from onboarding.systems.jupyterhub.steps import team_hub_group

pytestmark = pytest.mark.django_db(transaction=True)

WITH_THE_COLUMN = ("onboarding", "0021_enrolments")


def migrate_to(target: tuple[str, str] | None):
    """Migrates, and returns the models as they are at the target."""
    executor = MigrationExecutor(connection)
    targets = [target] if target else executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def teams_with_the_column():
    apps = migrate_to(WITH_THE_COLUMN)
    try:
        OldTeam = apps.get_model("onboarding", "Team")
        OldTeam.objects.create(name="vision", freeipa_group="vision", jupyterhub_group="hub-v")
        OldTeam.objects.create(
            name="speech", freeipa_group="speech", jupyterhub_group="",
            system_settings={"postgres": {"roles": ["analysts"]}},
        )  # fmt: skip
        OldTeam.objects.create(
            name="search", freeipa_group="search", jupyterhub_group="hub-s",
            system_settings={"postgres": {"roles": ["readers"]}},
        )  # fmt: skip
    finally:
        migrate_to(None)


def test_each_teams_hub_group_becomes_its_setting_and_goes_back_on_downgrade(
    teams_with_the_column,
):
    settings = dict(Team.objects.values_list("name", "system_settings"))
    assert settings == {
        "vision": {"jupyterhub": {"group": "hub-v"}},
        "speech": {"postgres": {"roles": ["analysts"]}},
        "search": {"postgres": {"roles": ["readers"]}, "jupyterhub": {"group": "hub-s"}},
    }
    assert team_hub_group(Team.objects.get(name="speech")) == ""

    apps = migrate_to(WITH_THE_COLUMN)
    try:
        OldTeam = apps.get_model("onboarding", "Team")
        back = {t.name: (t.jupyterhub_group, t.system_settings) for t in OldTeam.objects.all()}
    finally:
        migrate_to(None)
    assert back == {
        "vision": ("hub-v", {}),
        "speech": ("", {"postgres": {"roles": ["analysts"]}}),
        "search": ("hub-s", {"postgres": {"roles": ["readers"]}}),
    }
