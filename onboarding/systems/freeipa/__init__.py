"""FreeIPA: the person's account (OTP required), their team's groups and their OTP token."""

from __future__ import annotations

import os

from django.conf import settings

from onboarding.models import Person, Team
from onboarding.systems.base import ManagedObject, System, SystemState
from onboarding.systems.freeipa import steps as s
from onboarding.systems.freeipa.client import FreeIPA


class FreeIPASystem(System):
    name = "freeipa"
    label = "FreeIPA"
    steps = {
        ("onboard", "account"): (s.USER_CREATE,),
        ("onboard", "access"): (s.TEAM_GROUPS_JOIN, s.OTP_TOKEN_CREATE),
        ("offboard", "cut_off"): (s.USER_DISABLE, s.LEAD_ROLES_REMOVE),
        ("offboard", "memberships"): (s.MEMBERSHIPS_REMOVE, s.OTP_TOKENS_DELETE),
        ("offboard", "preserve"): (s.USER_PRESERVE,),
        ("move", "team"): (s.TEAM_GROUPS_SWITCH,),
        ("reinstate", "account"): (s.USER_RESTORE, s.USER_ENABLE, s.TEMPORARY_PASSWORD_REISSUE),
        ("reinstate", "access"): (s.TEAM_GROUPS_JOIN, s.OTP_TOKEN_CREATE),
    }

    def client_build(self) -> FreeIPA:
        return FreeIPA.from_settings()

    def person_state(self, person: Person) -> SystemState:
        ipa: FreeIPA = self.client
        user = ipa.user_find(username=person.username)
        if user is None:
            return SystemState(self.label, False, "no user")
        if user.preserved:
            summary = "preserved (deleted, can be reinstated)"
        elif user.disabled:
            summary = "disabled"
        else:
            summary = "active"
        tokens = ipa.otp_tokens(username=person.username) if not user.preserved else []
        groups = ", ".join(user.groups) or "no groups"
        detail = f"{summary}; uid {user.uid_number}; groups: {groups}; OTP tokens: {len(tokens)}"
        return SystemState(self.label, True, detail)

    def inventory(self) -> list[ManagedObject]:
        """The users in the teams' groups: one call per group."""
        groups = sorted({group for team in Team.objects.all() for group in team.freeipa_groups})
        found: dict[str, list[str]] = {}
        for name in groups:
            group = self.client.group_find(name=name)
            for username in group.members if group else ():
                found.setdefault(username, []).append(name)
        return [
            ManagedObject(self.name, "user", username, username, f"in {', '.join(in_groups)}")
            for username, in_groups in sorted(found.items())
        ]

    def onboard_problem(self, username: str) -> str | None:
        user = self.client.user_find(username=username)
        if user is None:
            return None
        where = "as a preserved user; reinstate them instead" if user.preserved else "already"
        return f"The username {username!r} is taken in FreeIPA {where}."

    def team_apply(self, *, team: Team, leads: list[str] | None) -> None:
        ipa: FreeIPA = self.client
        group = ipa.group_ensure(
            name=team.freeipa_group, description=f"Team {team.name} (AccessAdmin)"
        )
        if leads is None:
            return
        for lead in sorted(set(leads) - set(group.managers)):
            ipa.group_add_manager(group=team.freeipa_group, username=lead)
        for manager in sorted(set(group.managers) - set(leads)):
            ipa.group_remove_manager(group=team.freeipa_group, username=manager)

    def team_leads(self, team: Team) -> set[str]:
        group = self.client.group_find(name=team.freeipa_group)
        return set(group.managers) if group else set()

    def lead_problem(self, username: str) -> str | None:
        user = self.client.user_find(username=username)
        if user is None:
            return f"{username} is not a FreeIPA user."
        if user.preserved or user.disabled:
            return f"{username}'s FreeIPA account is disabled; they cannot lead a team."
        return None

    def settings_problems(self) -> list[str]:
        problems = []
        if not settings.FREEIPA_HOST:
            problems.append("FREEIPA_HOST is not set")
        if not settings.FREEIPA_USERNAME or not settings.FREEIPA_PASSWORD:
            problems.append("FREEIPA_USERNAME and FREEIPA_PASSWORD must both be set")
        ca_file = settings.FREEIPA_CA_FILE
        if ca_file and not os.access(ca_file, os.R_OK):
            problems.append(f"FREEIPA_CA_FILE {ca_file} cannot be read")
        return problems

    def credentials_check(self) -> str:
        return f"logged in as {self.client.username}: {self.client.ping()}"
