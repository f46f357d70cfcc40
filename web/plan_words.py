"""A plan's steps in words a person reads, with the real values: the path, the groups, the
policy ARNs, the role, the hub group. The engine's step names stay its own; a step this module
does not know is shown with the engine's description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from onboarding.models import Person, Team
from onboarding.runner import PlannedChange
from onboarding.systems import enabled, system
from onboarding.team_settings import team_setting


@dataclass(frozen=True)
class Words:
    person: Person
    team: Team
    previous_team: Team | None = None

    @property
    def username(self) -> str:
        return self.person.username

    @property
    def groups(self) -> str:
        return _list(self.team.freeipa_groups)

    @property
    def policies(self) -> str:
        return _list(self.team.iam_policy_arns, none="no policies")

    @property
    def hub_group(self) -> str:
        return self.setting("jupyterhub", "group") or "no group"

    @property
    def role(self) -> str:
        return f"{settings.IAM_ROLE_PREFIX}{self.username}"

    @property
    def data_path(self) -> str:
        return system("efs").access_point_path(self.username)

    @property
    def before(self) -> Team:
        return self.previous_team or self.team

    def setting(self, system_name: str, name: str):
        """The team's value of a system's team setting (the new team's in a move)."""
        return team_setting(self.team, system_name, name)

    def setting_before(self, system_name: str, name: str):
        return team_setting(self.before, system_name, name)


def _list(items, *, none: str = "none") -> str:
    return ", ".join(items) or none


SAYS: dict[str, Callable[[Words], str]] = {
    "freeipa_user": lambda w: (
        f"Create the FreeIPA user {w.username} ({w.person.full_name}, "
        f"{w.person.email}): OTP required, with a temporary password that must be changed at first "
        "login"
    ),
    "freeipa_groups": lambda w: f"Add {w.username} to the FreeIPA group(s) {w.groups}",
    "otp_token": lambda w: f"Create a TOTP token for {w.username}, to be scanned at hand-over",
    "efs_access_point": lambda w: (
        f"Create the EFS access point {w.data_path}, owned by their uid and gid"
    ),
    "iam_role": lambda w: (
        f"Create the IAM role {w.role} (SAML login, theirs alone) with the policies {w.policies}"
    ),
    "jupyterhub_access": lambda w: (
        f"Create the JupyterHub user {w.username} in the hub group {w.hub_group}"
    ),
    "freeipa_disable": lambda w: f"Disable the FreeIPA user {w.username}: no more logins",
    "freeipa_lead_roles_removal": lambda w: (
        f"Stop {w.username} managing the members of any FreeIPA group (their team lead roles)"
    ),
    "jupyterhub_servers_stop": lambda w: f"Stop {w.username}'s running JupyterHub servers",
    "jupyterhub_removal": lambda w: f"Remove the JupyterHub user {w.username}",
    "iam_role_removal": lambda w: f"Delete the IAM role {w.role}",
    "efs_access_point_removal": lambda w: (
        f"Delete the EFS access point {w.data_path} (the files stay)"
    ),
    "freeipa_memberships_removal": lambda w: (
        f"Remove {w.username} from the teams' FreeIPA groups ({w.groups}); groups of no team stay"
    ),
    "otp_tokens_removal": lambda w: f"Delete {w.username}'s OTP tokens",
    "freeipa_preserve": lambda w: (
        f"Preserve the FreeIPA user {w.username}, so they can be reinstated"
    ),
    "freeipa_restore": lambda w: f"Restore the preserved FreeIPA user {w.username}",
    "freeipa_enable": lambda w: f"Enable the FreeIPA user {w.username}",
    "freeipa_credentials": lambda w: (
        f"Give {w.username} a new temporary password, to be changed at first login; OTP required"
    ),
    "freeipa_team_groups": lambda w: (
        f"Move {w.username} from the FreeIPA group(s) "
        f"{_list(w.before.freeipa_groups)} to {w.groups}"
    ),
    "iam_team_policies": lambda w: (
        f"Switch the IAM role {w.role} from the policies "
        f"{_list(w.before.iam_policy_arns, none='no policies')} to {w.policies}"
    ),
    "jupyterhub_team_group": lambda w: (
        f"Move {w.username} from the hub group "
        f"{w.setting_before('jupyterhub', 'group') or 'no group'} to {w.hub_group}"
    ),
}


@dataclass(frozen=True)
class ChangeInWords:
    step: str
    system: str
    says: str
    already_done: bool


def system_label(name: str) -> str:
    """A system's name as people write it (FreeIPA, not freeipa)."""
    try:
        return system(name).label
    except ImproperlyConfigured:
        return name


def _says(step: str, words: Words, otherwise: str) -> str:
    """A step in words: this module's, else its system's own (`System.step_words`)."""
    if step in SAYS:
        return SAYS[step](words)
    for each in enabled():
        if step in each.step_words:
            return each.step_words[step](words)
    return otherwise


def changes_in_words(
    changes: list[PlannedChange], *, person: Person, team: Team, previous_team: Team | None = None
) -> list[ChangeInWords]:
    words = Words(person, team, previous_team)
    return [
        ChangeInWords(
            change.step,
            system_label(change.system),
            _says(change.step, words, change.description),
            change.already_done,
        )
        for change in changes
    ]


def steps_in_words(
    steps: list, *, person: Person, team: Team, previous_team: Team | None = None
) -> list[tuple]:
    """A run's step rows, each with what it does in words."""
    words = Words(person, team, previous_team)
    return [(step, _says(step.name, words, step.name)) for step in steps]
