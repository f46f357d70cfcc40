"""JupyterHub: each person's hub user in their team's group, and their servers."""

from __future__ import annotations

from django.conf import settings

from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import Person
from onboarding.systems.base import Check, ManagedObject, System, SystemState, TeamSetting
from onboarding.systems.jupyterhub import steps as s
from onboarding.systems.jupyterhub.client import (
    GROUPS_MANAGED_BY_AUTHENTICATOR,
    GROUPS_MANAGED_FIX,
    JupyterHub,
)
from onboarding.validation import group_name_check

HUB_USER = "hub user"
# What the connector does (jupyterhub/client.py); each implies the read scopes it needs.
REQUIRED_SCOPES = ("admin:users", "admin:groups", "admin:servers")


def _group_changes(hub: JupyterHub) -> Check:
    try:
        allowed = hub.group_changes_allowed()
    except AccessAdminError as error:
        return Check("group changes", Check.FAILED, str(error))
    if allowed:
        return Check("group changes", Check.OK, "the API may add and remove group members")
    return Check(
        "group changes",
        Check.FAILED,
        f"the hub answers 400 {GROUPS_MANAGED_BY_AUTHENTICATOR!r}: its authenticator manages "
        "groups (manage_groups = True, JupyterHub before 5.3), so no team's group can change",
        GROUPS_MANAGED_FIX,
    )


def hub_group_parse(value: object) -> str:
    """A hub group's name as typed or sent, or "" for none."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"give the group's name as text, not {type(value).__name__}.")
    name = value.strip()
    return group_name_check(name, label="Group") if name else ""


GROUP_SETTING = TeamSetting(
    s.GROUP,
    "Group",
    "The hub group every member's hub user joins; empty for none.",
    parse=hub_group_parse,
    default="",
)


class JupyterHubSystem(System):
    name = "jupyterhub"
    label = "JupyterHub"
    team_settings = (GROUP_SETTING,)
    steps = {
        ("onboard", "access"): (s.ACCESS_GRANT,),
        ("offboard", "cut_off"): (s.SERVERS_STOP,),
        ("offboard", "services"): (s.USER_REMOVE,),
        ("move", "team"): (s.TEAM_GROUP_SWITCH,),
        ("reinstate", "access"): (s.ACCESS_GRANT,),
        ("repair", "access"): (s.ACCESS_REPAIR,),
    }

    def client_build(self) -> JupyterHub:
        return JupyterHub.from_settings()

    def person_state(self, person: Person) -> SystemState:
        hub_user = self.client.user_find(name=person.username)
        if hub_user is None:
            return SystemState(self.label, False, "no hub user")
        groups = ", ".join(hub_user.groups) or "no groups"
        return SystemState(self.label, True, f"hub user; groups: {groups}")

    def inventory(self) -> list[ManagedObject]:
        """The hub users in the teams' hub groups, and those named like a person AccessAdmin
        knows, each with the team hub groups they are in: one listing of the hub's users."""
        team_groups = s.team_hub_groups()
        known = set(Person.objects.values_list("username", flat=True))
        found = []
        for hub_user in self.client.users():
            in_groups = sorted(team_groups.intersection(hub_user.groups))
            if in_groups or hub_user.name in known:
                groups = ", ".join(in_groups) or "none"
                found.append(
                    ManagedObject(
                        self.name,
                        HUB_USER,
                        hub_user.name,
                        hub_user.name,
                        f"in {groups}",
                        {"groups": groups},
                    )
                )
        return sorted(found, key=lambda item: item.id)

    def orphan_remove(self, item: ManagedObject) -> None:
        """Their servers stopped, out of every group, and the hub user deleted."""
        self.client.user_remove(name=item.username)

    def expected(self, person: Person) -> list[ManagedObject]:
        groups = s.team_hub_group(person.team) or "none"
        return [
            ManagedObject(
                self.name,
                HUB_USER,
                person.username,
                person.username,
                f"in {groups}",
                {"groups": groups},
            )
        ]

    def settings_problems(self) -> list[str]:
        problems = []
        if not settings.JUPYTERHUB_URL:
            problems.append("JUPYTERHUB_URL is not set")
        if not settings.JUPYTERHUB_API_TOKEN:
            problems.append("JUPYTERHUB_API_TOKEN is not set")
        return problems

    def preflight(self) -> list[Check]:
        hub: JupyterHub = self.client
        try:
            model = hub.token_model()
            version = hub.version()
        except AccessAdminError as error:
            return [Check("API token", Check.FAILED, str(error))]
        scopes = set(model.get("scopes", ()))
        name = f"{model.get('kind', 'user')} {model.get('name', '?')}"
        checks = [Check("API token", Check.OK, f"belongs to {name}, hub {version}")]
        for scope in REQUIRED_SCOPES:
            if scope not in scopes:
                checks.append(
                    Check(
                        f"scope {scope}",
                        Check.FAILED,
                        f"{name} lacks it",
                        f"add {scope} to the role of {name} in jupyterhub_config.py",
                    )
                )
        checks.append(_group_changes(hub))
        # The authenticator's settings are not in the REST API: say what they must be.
        checks.append(
            Check(
                "who may log in",
                Check.WARNING,
                "not visible through the API: removing a hub user keeps a leaver out only with "
                "Authenticator.allow_all = False and allow_existing_users = True (JupyterHub 5+)",
                "check jupyterhub_config.py (README: Connecting to a real JupyterHub)",
            )
        )
        return checks

    def credentials_check(self) -> str:
        return self.client.whoami()
