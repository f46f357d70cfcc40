"""JupyterHub's steps: the person's hub user in their team's group, and taking it away."""

from __future__ import annotations

from onboarding.models import Team
from onboarding.steps import PlanStep, StepContext
from onboarding.systems.jupyterhub.client import JupyterHub
from onboarding.team_settings import team_setting

SYSTEM = "jupyterhub"
GROUP = "group"


def team_hub_group(team: Team) -> str:
    """The hub group the team's members join, or "" for none."""
    return team_setting(team, SYSTEM, GROUP)


class JupyterHubStep(PlanStep):
    system = SYSTEM

    @staticmethod
    def hub(ctx: StepContext) -> JupyterHub:
        return ctx.client


def _access_grant(ctx: StepContext) -> dict:
    hub: JupyterHub = ctx.client
    group = ctx.team_setting(GROUP)
    hub.user_create(name=ctx.username)
    if group:
        hub.group_add_user(group=group, name=ctx.username)
    return {"hub_user": ctx.username, "group": group}


class AccessGrant(JupyterHubStep):
    name = "jupyterhub_access"
    description = "Create their JupyterHub user in the team's group"

    def do(self, ctx: StepContext) -> dict:
        return _access_grant(ctx)

    def check(self, ctx: StepContext) -> dict | None:
        user = self.hub(ctx).user_find(name=ctx.username)
        if user is None:
            return None
        group = ctx.team_setting(GROUP)
        if group and group not in user.groups:
            return None
        return {"hub_user": ctx.username, "group": group}

    def undo(self, ctx: StepContext) -> None:
        self.hub(ctx).user_remove(name=ctx.username)


def team_hub_groups() -> set[str]:
    """The hub groups AccessAdmin manages: every team's."""
    groups = Team.objects.values_list(f"system_settings__{SYSTEM}__{GROUP}", flat=True)
    return {group for group in groups if isinstance(group, str) and group}


class AccessRepair(JupyterHubStep):
    name = "jupyterhub_access_repair"
    description = "Make their JupyterHub user, in exactly their team's hub group"

    def do(self, ctx: StepContext) -> dict:
        hub: JupyterHub = ctx.client
        user = hub.user_find(name=ctx.username) or hub.user_create(name=ctx.username)
        wanted = ctx.team_setting(GROUP)
        if wanted and wanted not in user.groups:
            hub.group_add_user(group=wanted, name=ctx.username)
        leaving = sorted((team_hub_groups() & set(user.groups)) - {wanted})
        for group in leaving:
            hub.group_remove_user(group=group, name=ctx.username)
        return {"hub_user": ctx.username, "group": wanted, "removed": leaving}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.hub(ctx).user_find(name=ctx.username)
        group = ctx.team_setting(GROUP)
        if user is None or team_hub_groups() & set(user.groups) != {group} - {""}:
            return None
        return {"hub_user": ctx.username, "group": group, "removed": []}

    def undo(self, ctx: StepContext) -> None:
        """The groups it took them out of are given back; the user it made stays."""
        for group in (ctx.record.external_ids if ctx.record else {}).get("removed", []):
            self.hub(ctx).group_add_user(group=group, name=ctx.username)


class UserRemove(JupyterHubStep):
    name = "jupyterhub_removal"
    description = "Stop their servers and remove their JupyterHub user"

    def do(self, ctx: StepContext) -> dict:
        self.hub(ctx).user_remove(name=ctx.username)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        return {} if self.hub(ctx).user_find(name=ctx.username) is None else None

    def undo(self, ctx: StepContext) -> dict:
        return _access_grant(ctx)


class ServersStop(JupyterHubStep):
    name = "jupyterhub_servers_stop"
    description = "Stop their JupyterHub servers (their notebooks stop running now)"

    def do(self, ctx: StepContext) -> dict:
        return {"stopped": self.hub(ctx).servers_stop(name=ctx.username)}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.hub(ctx).user_find(name=ctx.username)
        return {"stopped": []} if user is None or not user.servers else None

    def undo(self, ctx: StepContext) -> None:
        """A stopped server is started again by its owner, when they may."""


class TeamGroupSwitch(JupyterHubStep):
    name = "jupyterhub_team_group"
    description = "Switch their JupyterHub group to the new team's"

    def do(self, ctx: StepContext) -> dict:
        old, new = ctx.previous_team_setting(GROUP), ctx.team_setting(GROUP)
        if new:
            self.hub(ctx).group_add_user(group=new, name=ctx.username)
        if old and old != new:
            self.hub(ctx).group_remove_user(group=old, name=ctx.username)
        return {"group": new}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.hub(ctx).user_find(name=ctx.username)
        if user is None:
            return None
        old, new = ctx.previous_team_setting(GROUP), ctx.team_setting(GROUP)
        if (not new or new in user.groups) and (not old or old == new or old not in user.groups):
            return {"group": new}
        return None

    def undo(self, ctx: StepContext) -> None:
        old, new = ctx.previous_team_setting(GROUP), ctx.team_setting(GROUP)
        if old:
            self.hub(ctx).group_add_user(group=old, name=ctx.username)
        if new and new != old:
            self.hub(ctx).group_remove_user(group=new, name=ctx.username)


ACCESS_GRANT = AccessGrant()
ACCESS_REPAIR = AccessRepair()
USER_REMOVE = UserRemove()
SERVERS_STOP = ServersStop()
TEAM_GROUP_SWITCH = TeamGroupSwitch()
