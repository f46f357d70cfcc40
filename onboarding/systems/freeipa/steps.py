"""FreeIPA's steps: the account, its team groups, its OTP token, and taking them away again."""

from __future__ import annotations

import secrets

from onboarding.errors import AlreadyExists, PermanentError
from onboarding.models import Credential, Person, Team
from onboarding.steps import PlanStep, StepContext
from onboarding.systems.freeipa.client import FreeIPA

DEFAULT_GROUP = "ipausers"  # FreeIPA puts every user here; it is not ours to take away


# Read off a printed sheet and typed by hand: no character that passes for another (0/O/o,
# 1/l/I), and punctuation only inside, where it is not lost at either end.
PASSWORD_CLASSES = (
    "abcdefghijkmnpqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "-+=",
)  # fmt: skip
PASSWORD_LENGTH = 18  # about 105 bits from these 59 characters: more than 16 from 67 gave


def temporary_password() -> str:
    """A password with a character of every class, so any sane FreeIPA policy accepts it."""
    everything = "".join(PASSWORD_CLASSES)
    ends = "".join(PASSWORD_CLASSES[:3])
    while True:
        middle = [secrets.choice(everything) for _ in range(PASSWORD_LENGTH - 2)]
        password = secrets.choice(ends) + "".join(middle) + secrets.choice(ends)
        if all(any(char in password for char in chars) for chars in PASSWORD_CLASSES):
            return password


def _ids_store(person: Person, uid_number: int, gid_number: int) -> dict:
    """Remember the person's POSIX ids, which other systems' steps need (an access point's
    owner)."""
    if person.pk and (person.uid_number, person.gid_number) != (uid_number, gid_number):
        person.uid_number, person.gid_number = uid_number, gid_number
        Person.objects.filter(pk=person.pk).update(uid_number=uid_number, gid_number=gid_number)
    return {"uid_number": uid_number, "gid_number": gid_number}


class FreeIPAStep(PlanStep):
    system = "freeipa"

    @staticmethod
    def ipa(ctx: StepContext) -> FreeIPA:
        return ctx.client


# The account ------------------------------------------------------------------------------


class UserCreate(FreeIPAStep):
    name = "freeipa_user"
    description = "Create the FreeIPA user: OTP required, expired temporary password"

    def do(self, ctx: StepContext) -> dict:
        password = temporary_password()
        try:
            user = self.ipa(ctx).user_create(
                username=ctx.username,
                first_name=ctx.person.first_name,
                last_name=ctx.person.last_name,
                email=ctx.person.email,
                password=password,
            )
        except AlreadyExists:
            if not ctx.retrying:
                raise PermanentError(
                    "freeipa",
                    f"user {ctx.username!r} already exists: it was created outside this run",
                ) from None
            # Our earlier attempt created the user but its password was never handed over.
            user = self.ipa(ctx).user_reset_password(username=ctx.username, password=password)
        ctx.hand_over(Credential.Kind.TEMPORARY_PASSWORD, password)
        return _ids_store(ctx.person, user.uid_number, user.gid_number)

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        if user is None or user.preserved:
            return None
        if ctx.run is not None and not ctx.handed_over(Credential.Kind.TEMPORARY_PASSWORD):
            return None
        return _ids_store(ctx.person, user.uid_number, user.gid_number)

    def undo(self, ctx: StepContext) -> None:
        self.ipa(ctx).user_delete(username=ctx.username)


class TemporaryPasswordReissue(FreeIPAStep):
    name = "freeipa_credentials"
    description = "Issue a new expired temporary password, OTP required"
    needs = ("freeipa_enable",)

    def do(self, ctx: StepContext) -> dict:
        password = temporary_password()
        user = self.ipa(ctx).user_reset_password(username=ctx.username, password=password)
        ctx.hand_over(Credential.Kind.TEMPORARY_PASSWORD, password)
        return _ids_store(ctx.person, user.uid_number, user.gid_number)

    def check(self, ctx: StepContext) -> dict | None:
        return {} if ctx.handed_over(Credential.Kind.TEMPORARY_PASSWORD) else None

    def undo(self, ctx: StepContext) -> None:
        """A secret already handed out cannot be taken back; the next run issues a new one."""


class UserDisable(FreeIPAStep):
    name = "freeipa_disable"
    description = "Disable the FreeIPA user"

    def do(self, ctx: StepContext) -> dict:
        if self.ipa(ctx).user_find(username=ctx.username) is not None:
            self.ipa(ctx).user_disable(username=ctx.username)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        return {} if user is None or user.disabled or user.preserved else None

    def undo(self, ctx: StepContext) -> None:
        self.ipa(ctx).user_enable(username=ctx.username)


class UserEnable(FreeIPAStep):
    name = "freeipa_enable"
    description = "Enable the FreeIPA user"
    needs = ("freeipa_restore",)

    def do(self, ctx: StepContext) -> dict:
        self.ipa(ctx).user_enable(username=ctx.username)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        return {} if user is not None and not user.preserved and not user.disabled else None

    def undo(self, ctx: StepContext) -> None:
        self.ipa(ctx).user_disable(username=ctx.username)


class UserPreserve(FreeIPAStep):
    name = "freeipa_preserve"
    description = "Preserve the FreeIPA user (restorable)"

    def do(self, ctx: StepContext) -> dict:
        if self.ipa(ctx).user_find(username=ctx.username) is not None:
            self.ipa(ctx).user_preserve(username=ctx.username)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        return {} if user is None or user.preserved else None

    def undo(self, ctx: StepContext) -> None:
        self.ipa(ctx).user_restore(username=ctx.username)


class UserRestore(FreeIPAStep):
    name = "freeipa_restore"
    description = "Restore the preserved FreeIPA user"

    def do(self, ctx: StepContext) -> dict:
        self.ipa(ctx).user_restore(username=ctx.username)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        return {} if user is not None and not user.preserved else None

    def undo(self, ctx: StepContext) -> None:
        self.ipa(ctx).user_preserve(username=ctx.username)


# Groups -----------------------------------------------------------------------------------


class TeamGroupsJoin(FreeIPAStep):
    name = "freeipa_groups"
    description = "Add them to the team's FreeIPA groups"

    def do(self, ctx: StepContext) -> dict:
        groups = ctx.team.freeipa_groups
        self.ipa(ctx).group_add_members(username=ctx.username, groups=groups)
        return {"groups": groups}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        if user is None or not set(ctx.team.freeipa_groups) <= set(user.groups):
            return None
        return {"groups": ctx.team.freeipa_groups}

    def undo(self, ctx: StepContext) -> None:
        self.ipa(ctx).group_remove_members(username=ctx.username, groups=ctx.team.freeipa_groups)


def team_groups() -> set[str]:
    """The groups AccessAdmin manages: every team's. Others are the directory admins' to keep."""
    return {group for team in Team.objects.all() for group in team.freeipa_groups}


class MembershipsRemove(FreeIPAStep):
    name = "freeipa_memberships_removal"
    description = "Remove them from the teams' FreeIPA groups (groups of no team stay)"

    def do(self, ctx: StepContext) -> dict:
        user = self.ipa(ctx).user_find(username=ctx.username)
        if user is None:
            return {"removed_groups": [], "kept_groups": []}
        managed = team_groups()
        groups = [g for g in user.groups if g in managed]
        self.ipa(ctx).group_remove_members(username=ctx.username, groups=groups)
        kept = [g for g in user.groups if g not in managed and g != DEFAULT_GROUP]
        return {"removed_groups": groups, "kept_groups": kept}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        if user is None:
            return {}
        if set(user.groups) & team_groups():
            return None
        return {"kept_groups": [g for g in user.groups if g != DEFAULT_GROUP]}

    def undo(self, ctx: StepContext) -> None:
        groups = ctx.record.external_ids.get("removed_groups") or ctx.team.freeipa_groups
        self.ipa(ctx).group_add_members(username=ctx.username, groups=groups)


class TeamGroupsRepair(FreeIPAStep):
    name = "freeipa_groups_repair"
    description = "Put them in exactly their team's FreeIPA groups, out of other teams' groups"

    def do(self, ctx: StepContext) -> dict:
        user = self.ipa(ctx).user_find(username=ctx.username)
        if user is None or user.preserved:
            raise PermanentError(
                "freeipa", f"{ctx.username} has no active FreeIPA user to put in groups"
            )
        wanted = ctx.team.freeipa_groups
        adding = [g for g in wanted if g not in user.groups]
        leaving = sorted((set(user.groups) & team_groups()) - set(wanted))
        if adding:
            self.ipa(ctx).group_add_members(username=ctx.username, groups=adding)
        if leaving:
            self.ipa(ctx).group_remove_members(username=ctx.username, groups=leaving)
        return {"added": adding, "removed": leaving}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        if user is None or set(user.groups) & team_groups() != set(ctx.team.freeipa_groups):
            return None
        return {"added": [], "removed": []}

    def undo(self, ctx: StepContext) -> None:
        ids = ctx.record.external_ids if ctx.record else {}
        if ids.get("added"):
            self.ipa(ctx).group_remove_members(username=ctx.username, groups=ids["added"])
        if ids.get("removed"):
            self.ipa(ctx).group_add_members(username=ctx.username, groups=ids["removed"])


class LeadRolesRemove(FreeIPAStep):
    name = "freeipa_lead_roles_removal"
    description = "Stop them managing any group's members (their team lead roles)"

    def do(self, ctx: StepContext) -> dict:
        groups = self.ipa(ctx).groups_managed_by(username=ctx.username)
        for group in groups:
            self.ipa(ctx).group_remove_manager(group=group, username=ctx.username)
        return {"managed_groups": groups}

    def check(self, ctx: StepContext) -> dict | None:
        if self.ipa(ctx).user_find(username=ctx.username) is None:
            return {"managed_groups": []}
        return None if self.ipa(ctx).groups_managed_by(username=ctx.username) else {}

    def undo(self, ctx: StepContext) -> None:
        for group in ctx.record.external_ids.get("managed_groups", []):
            self.ipa(ctx).group_add_manager(group=group, username=ctx.username)


class TeamGroupsSwitch(FreeIPAStep):
    name = "freeipa_team_groups"
    description = "Switch their FreeIPA groups to the new team's"

    def do(self, ctx: StepContext) -> dict:
        old, new = ctx.previous_team.freeipa_groups, ctx.team.freeipa_groups
        self.ipa(ctx).group_add_members(username=ctx.username, groups=new)
        leaving = [g for g in old if g not in new]
        self.ipa(ctx).group_remove_members(username=ctx.username, groups=leaving)
        return {"added": new, "removed": leaving}

    def check(self, ctx: StepContext) -> dict | None:
        user = self.ipa(ctx).user_find(username=ctx.username)
        if user is None:
            return None
        old, new = set(ctx.previous_team.freeipa_groups), set(ctx.team.freeipa_groups)
        if new <= set(user.groups) and not (old - new) & set(user.groups):
            return {"added": sorted(new), "removed": sorted(old - new)}
        return None

    def undo(self, ctx: StepContext) -> None:
        old, new = ctx.previous_team.freeipa_groups, ctx.team.freeipa_groups
        self.ipa(ctx).group_add_members(username=ctx.username, groups=old)
        self.ipa(ctx).group_remove_members(
            username=ctx.username, groups=[g for g in new if g not in old]
        )


# OTP --------------------------------------------------------------------------------------


class OtpTokenCreate(FreeIPAStep):
    name = "otp_token"
    description = "Create their TOTP token"

    def do(self, ctx: StepContext) -> dict:
        if ctx.retrying:
            # A token whose enrolment URI was lost with a failed attempt is useless to its owner.
            self.ipa(ctx).otp_tokens_delete(username=ctx.username)
        token, uri = self.ipa(ctx).otp_token_add(
            username=ctx.username, description="Issued by AccessAdmin"
        )
        ctx.hand_over(Credential.Kind.OTP_ENROLMENT, uri)
        return {"token_id": token.id}

    def check(self, ctx: StepContext) -> dict | None:
        if ctx.run is not None and not ctx.handed_over(Credential.Kind.OTP_ENROLMENT):
            return None
        tokens = self.ipa(ctx).otp_tokens(username=ctx.username)
        return {"token_id": tokens[0].id} if tokens else None

    def undo(self, ctx: StepContext) -> None:
        self.ipa(ctx).otp_tokens_delete(username=ctx.username)


class OtpTokensDelete(FreeIPAStep):
    name = "otp_tokens_removal"
    description = "Delete their OTP tokens"

    def do(self, ctx: StepContext) -> dict:
        return {"deleted": self.ipa(ctx).otp_tokens_delete(username=ctx.username)}

    def check(self, ctx: StepContext) -> dict | None:
        if self.ipa(ctx).user_find(username=ctx.username) is None:
            return {"deleted": 0}
        return None if self.ipa(ctx).otp_tokens(username=ctx.username) else {"deleted": 0}

    def undo(self, ctx: StepContext) -> None:
        """A deleted token's secret is gone; the next onboarding or reinstatement issues one."""


USER_CREATE = UserCreate()
TEAM_GROUPS_JOIN = TeamGroupsJoin()
TEAM_GROUPS_REPAIR = TeamGroupsRepair()
OTP_TOKEN_CREATE = OtpTokenCreate()
MEMBERSHIPS_REMOVE = MembershipsRemove()
OTP_TOKENS_DELETE = OtpTokensDelete()
USER_DISABLE = UserDisable()
LEAD_ROLES_REMOVE = LeadRolesRemove()
USER_PRESERVE = UserPreserve()
TEAM_GROUPS_SWITCH = TeamGroupsSwitch()
USER_RESTORE = UserRestore()
USER_ENABLE = UserEnable()
TEMPORARY_PASSWORD_REISSUE = TemporaryPasswordReissue()
