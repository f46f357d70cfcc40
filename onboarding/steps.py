"""What each lifecycle step does, how it tells it is already done, and how it is undone.

Every step is three functions of a ``StepContext``:
- ``do`` makes the change and returns the external ids worth remembering;
- ``check`` returns those ids when the change is already in place, ``None`` otherwise, and changes
  nothing (dry runs and retries rely on that);
- ``undo`` reverses ``do``; undoing something that is not there is fine.
"""

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from onboarding.credentials import credential_store
from onboarding.integrations.errors import AlreadyExists, PermanentError
from onboarding.models import Credential, LifecycleRun, Person, Step, Team
from onboarding.systems import Systems

DEFAULT_GROUP = "ipausers"  # FreeIPA puts every user here; it is not ours to take away


@dataclass
class StepContext:
    person: Person
    team: Team
    systems: Systems
    run: LifecycleRun | None = None
    record: Step | None = None
    previous_team: Team | None = None
    outputs: dict[str, dict] = field(default_factory=dict)

    @property
    def username(self) -> str:
        return self.person.username

    @property
    def retrying(self) -> bool:
        return self.record is not None and self.record.attempts > 1

    def hand_over(self, kind: str, secret: str) -> None:
        credential_store(run=self.run, kind=kind, secret=secret)

    def handed_over(self, kind: str) -> bool:
        return (
            self.run is not None
            and Credential.objects.filter(
                run=self.run, kind=kind, ciphertext__isnull=False
            ).exists()
        )


@dataclass(frozen=True)
class StepSpec:
    name: str
    system: str
    description: str
    do: Callable[[StepContext], dict]
    check: Callable[[StepContext], dict | None]
    undo: Callable[[StepContext], None]
    needs: tuple[str, ...] = ()  # steps that must be done first; the others may run alongside


def temporary_password() -> str:
    """16 characters from every class, so any sane FreeIPA password policy accepts it."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-_.+=")
    chars = [secrets.choice(c) for c in classes]
    chars += [secrets.choice("".join(classes)) for _ in range(12)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


# FreeIPA user -------------------------------------------------------------------------------


def freeipa_user_do(ctx: StepContext) -> dict:
    password = temporary_password()
    try:
        user = ctx.systems.freeipa.user_create(
            username=ctx.username,
            first_name=ctx.person.first_name,
            last_name=ctx.person.last_name,
            email=ctx.person.email,
            password=password,
        )
    except AlreadyExists:
        if not ctx.retrying:
            raise PermanentError(
                "freeipa", f"user {ctx.username!r} already exists: it was created outside this run"
            ) from None
        # Our earlier attempt created the user but its password was never handed over: issue anew.
        user = ctx.systems.freeipa.user_reset_password(username=ctx.username, password=password)
    ctx.hand_over(Credential.Kind.TEMPORARY_PASSWORD, password)
    _person_ids_store(ctx.person, user.uid_number, user.gid_number)
    return {"uid_number": user.uid_number, "gid_number": user.gid_number}


def freeipa_user_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    if user is None or user.preserved:
        return None
    if ctx.run is not None and not ctx.handed_over(Credential.Kind.TEMPORARY_PASSWORD):
        return None
    _person_ids_store(ctx.person, user.uid_number, user.gid_number)
    return {"uid_number": user.uid_number, "gid_number": user.gid_number}


def freeipa_user_undo(ctx: StepContext) -> None:
    ctx.systems.freeipa.user_delete(username=ctx.username)


def freeipa_credentials_do(ctx: StepContext) -> dict:
    password = temporary_password()
    user = ctx.systems.freeipa.user_reset_password(username=ctx.username, password=password)
    ctx.hand_over(Credential.Kind.TEMPORARY_PASSWORD, password)
    _person_ids_store(ctx.person, user.uid_number, user.gid_number)
    return {"uid_number": user.uid_number, "gid_number": user.gid_number}


def freeipa_credentials_check(ctx: StepContext) -> dict | None:
    if ctx.handed_over(Credential.Kind.TEMPORARY_PASSWORD):
        return {}
    return None


def nothing_to_undo(ctx: StepContext) -> None:
    """A secret already handed out cannot be taken back; the next run issues a new one."""


def _person_ids_store(person: Person, uid_number: int, gid_number: int) -> None:
    if person.pk and (person.uid_number, person.gid_number) != (uid_number, gid_number):
        person.uid_number, person.gid_number = uid_number, gid_number
        Person.objects.filter(pk=person.pk).update(uid_number=uid_number, gid_number=gid_number)


# FreeIPA groups -----------------------------------------------------------------------------


def freeipa_groups_do(ctx: StepContext) -> dict:
    groups = ctx.team.freeipa_groups
    ctx.systems.freeipa.group_add_members(username=ctx.username, groups=groups)
    return {"groups": groups}


def freeipa_groups_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    if user is None or not set(ctx.team.freeipa_groups) <= set(user.groups):
        return None
    return {"groups": ctx.team.freeipa_groups}


def freeipa_groups_undo(ctx: StepContext) -> None:
    ctx.systems.freeipa.group_remove_members(username=ctx.username, groups=ctx.team.freeipa_groups)


def freeipa_memberships_remove_do(ctx: StepContext) -> dict:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    if user is None:
        return {"removed_groups": []}
    groups = [g for g in user.groups if g != DEFAULT_GROUP]
    ctx.systems.freeipa.group_remove_members(username=ctx.username, groups=groups)
    return {"removed_groups": groups}


def freeipa_memberships_remove_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    if user is None or set(user.groups) <= {DEFAULT_GROUP}:
        return {}
    return None


def freeipa_memberships_remove_undo(ctx: StepContext) -> None:
    groups = ctx.record.external_ids.get("removed_groups") or ctx.team.freeipa_groups
    ctx.systems.freeipa.group_add_members(username=ctx.username, groups=groups)


def freeipa_groups_switch_do(ctx: StepContext) -> dict:
    old, new = ctx.previous_team.freeipa_groups, ctx.team.freeipa_groups
    ctx.systems.freeipa.group_add_members(username=ctx.username, groups=new)
    leaving = [g for g in old if g not in new]
    ctx.systems.freeipa.group_remove_members(username=ctx.username, groups=leaving)
    return {"added": new, "removed": leaving}


def freeipa_groups_switch_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    if user is None:
        return None
    old, new = set(ctx.previous_team.freeipa_groups), set(ctx.team.freeipa_groups)
    if new <= set(user.groups) and not (old - new) & set(user.groups):
        return {"added": sorted(new), "removed": sorted(old - new)}
    return None


def freeipa_groups_switch_undo(ctx: StepContext) -> None:
    old, new = ctx.previous_team.freeipa_groups, ctx.team.freeipa_groups
    ctx.systems.freeipa.group_add_members(username=ctx.username, groups=old)
    ctx.systems.freeipa.group_remove_members(
        username=ctx.username, groups=[g for g in new if g not in old]
    )


# OTP ----------------------------------------------------------------------------------------


def otp_token_do(ctx: StepContext) -> dict:
    ipa = ctx.systems.freeipa
    if ctx.retrying:
        # A token whose enrolment URI was lost with a failed attempt is useless to its owner.
        ipa.otp_tokens_delete(username=ctx.username)
    token, uri = ipa.otp_token_add(username=ctx.username, description="Issued by AccessAdmin")
    ctx.hand_over(Credential.Kind.OTP_ENROLMENT, uri)
    return {"token_id": token.id}


def otp_token_check(ctx: StepContext) -> dict | None:
    if ctx.run is not None and not ctx.handed_over(Credential.Kind.OTP_ENROLMENT):
        return None
    tokens = ctx.systems.freeipa.otp_tokens(username=ctx.username)
    return {"token_id": tokens[0].id} if tokens else None


def otp_tokens_undo(ctx: StepContext) -> None:
    ctx.systems.freeipa.otp_tokens_delete(username=ctx.username)


def otp_tokens_remove_do(ctx: StepContext) -> dict:
    return {"deleted": ctx.systems.freeipa.otp_tokens_delete(username=ctx.username)}


def otp_tokens_remove_check(ctx: StepContext) -> dict | None:
    if ctx.systems.freeipa.user_find(username=ctx.username) is None:
        return {"deleted": 0}
    return None if ctx.systems.freeipa.otp_tokens(username=ctx.username) else {"deleted": 0}


# FreeIPA account state ----------------------------------------------------------------------


def freeipa_disable_do(ctx: StepContext) -> dict:
    if ctx.systems.freeipa.user_find(username=ctx.username) is not None:
        ctx.systems.freeipa.user_disable(username=ctx.username)
    return {}


def freeipa_disable_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    return {} if user is None or user.disabled or user.preserved else None


def freeipa_enable(ctx: StepContext) -> None:
    ctx.systems.freeipa.user_enable(username=ctx.username)


def freeipa_enable_do(ctx: StepContext) -> dict:
    freeipa_enable(ctx)
    return {}


def freeipa_enable_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    return {} if user is not None and not user.preserved and not user.disabled else None


def freeipa_disable(ctx: StepContext) -> None:
    ctx.systems.freeipa.user_disable(username=ctx.username)


def freeipa_preserve_do(ctx: StepContext) -> dict:
    if ctx.systems.freeipa.user_find(username=ctx.username) is not None:
        ctx.systems.freeipa.user_preserve(username=ctx.username)
    return {}


def freeipa_preserve_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    return {} if user is None or user.preserved else None


def freeipa_restore(ctx: StepContext) -> None:
    ctx.systems.freeipa.user_restore(username=ctx.username)


def freeipa_restore_do(ctx: StepContext) -> dict:
    freeipa_restore(ctx)
    return {}


def freeipa_restore_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.freeipa.user_find(username=ctx.username)
    return {} if user is not None and not user.preserved else None


def freeipa_preserve(ctx: StepContext) -> None:
    ctx.systems.freeipa.user_preserve(username=ctx.username)


# EFS ----------------------------------------------------------------------------------------


def efs_access_point_do(ctx: StepContext) -> dict:
    # A first attempt follows a plan that never made one or removed it; a retry was checked.
    return _efs_access_point_make(ctx, look_first=ctx.run is None or ctx.retrying)


def _efs_access_point_make(ctx: StepContext, *, look_first: bool) -> dict:
    if ctx.person.uid_number is None:
        raise PermanentError("efs", f"{ctx.username} has no FreeIPA uid/gid yet")
    access_point = ctx.systems.efs.access_point_create(
        username=ctx.username,
        team=ctx.team.name,
        uid=ctx.person.uid_number,
        gid=ctx.person.gid_number,
        look_first=look_first,
        request_token=f"accessadmin-{ctx.run.pk}-{ctx.record.attempts}" if ctx.record else None,
    )
    return {"access_point_id": access_point.id, "arn": access_point.arn}


def efs_access_point_check(ctx: StepContext) -> dict | None:
    access_point = ctx.systems.efs.access_point_find(username=ctx.username)
    if access_point is None:
        return None
    return {"access_point_id": access_point.id, "arn": access_point.arn}


def efs_access_point_undo(ctx: StepContext) -> None:
    ctx.systems.efs.access_point_delete(username=ctx.username)


def efs_access_point_remove_do(ctx: StepContext) -> dict:
    ctx.systems.efs.access_point_delete(username=ctx.username)
    return {}


def efs_access_point_remove_check(ctx: StepContext) -> dict | None:
    return {} if ctx.systems.efs.access_point_find(username=ctx.username) is None else None


def efs_access_point_restore(ctx: StepContext) -> None:
    _efs_access_point_make(ctx, look_first=True)


# IAM ----------------------------------------------------------------------------------------


def iam_role_do(ctx: StepContext) -> dict:
    access_point = ctx.outputs.get("efs_access_point") or efs_access_point_check(ctx) or {}
    role = ctx.systems.iam.role_create(
        username=ctx.username,
        team=ctx.team.name,
        policy_arns=list(ctx.team.iam_policy_arns),
        access_point_arn=access_point.get("arn"),
    )
    return {"role_name": role.name, "role_arn": role.arn}


def iam_role_check(ctx: StepContext) -> dict | None:
    role = ctx.systems.iam.role_find(username=ctx.username)
    if role is None or set(role.policy_arns) != set(ctx.team.iam_policy_arns):
        return None
    return {"role_name": role.name, "role_arn": role.arn}


def iam_role_undo(ctx: StepContext) -> None:
    ctx.systems.iam.role_delete(username=ctx.username)


def iam_role_remove_do(ctx: StepContext) -> dict:
    ctx.systems.iam.role_delete(username=ctx.username)
    return {}


def iam_role_remove_check(ctx: StepContext) -> dict | None:
    return {} if ctx.systems.iam.role_find(username=ctx.username) is None else None


def iam_role_restore(ctx: StepContext) -> None:
    iam_role_do(ctx)


def iam_team_policies_do(ctx: StepContext) -> dict:
    role = ctx.systems.iam.role_set_team(
        username=ctx.username, team=ctx.team.name, policy_arns=list(ctx.team.iam_policy_arns)
    )
    return {"role_name": role.name, "policy_arns": list(role.policy_arns)}


def iam_team_policies_check(ctx: StepContext) -> dict | None:
    role = ctx.systems.iam.role_find(username=ctx.username)
    if role is None:
        return None
    if role.team != ctx.team.name or set(role.policy_arns) != set(ctx.team.iam_policy_arns):
        return None
    return {"role_name": role.name, "policy_arns": list(role.policy_arns)}


def iam_team_policies_undo(ctx: StepContext) -> None:
    ctx.systems.iam.role_set_team(
        username=ctx.username,
        team=ctx.previous_team.name,
        policy_arns=list(ctx.previous_team.iam_policy_arns),
    )


# JupyterHub ---------------------------------------------------------------------------------


def jupyterhub_access_do(ctx: StepContext) -> dict:
    hub = ctx.systems.jupyterhub
    hub.user_create(name=ctx.username)
    if ctx.team.jupyterhub_group:
        hub.group_add_user(group=ctx.team.jupyterhub_group, name=ctx.username)
    return {"hub_user": ctx.username, "group": ctx.team.jupyterhub_group}


def jupyterhub_access_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.jupyterhub.user_find(name=ctx.username)
    if user is None:
        return None
    if ctx.team.jupyterhub_group and ctx.team.jupyterhub_group not in user.groups:
        return None
    return {"hub_user": ctx.username, "group": ctx.team.jupyterhub_group}


def jupyterhub_access_undo(ctx: StepContext) -> None:
    ctx.systems.jupyterhub.user_remove(name=ctx.username)


def jupyterhub_remove_do(ctx: StepContext) -> dict:
    ctx.systems.jupyterhub.user_remove(name=ctx.username)
    return {}


def jupyterhub_remove_check(ctx: StepContext) -> dict | None:
    return {} if ctx.systems.jupyterhub.user_find(name=ctx.username) is None else None


def jupyterhub_restore(ctx: StepContext) -> None:
    jupyterhub_access_do(ctx)


def jupyterhub_team_group_do(ctx: StepContext) -> dict:
    hub = ctx.systems.jupyterhub
    old, new = ctx.previous_team.jupyterhub_group, ctx.team.jupyterhub_group
    if new:
        hub.group_add_user(group=new, name=ctx.username)
    if old and old != new:
        hub.group_remove_user(group=old, name=ctx.username)
    return {"group": new}


def jupyterhub_team_group_check(ctx: StepContext) -> dict | None:
    user = ctx.systems.jupyterhub.user_find(name=ctx.username)
    if user is None:
        return None
    old, new = ctx.previous_team.jupyterhub_group, ctx.team.jupyterhub_group
    if (not new or new in user.groups) and (not old or old == new or old not in user.groups):
        return {"group": new}
    return None


def jupyterhub_team_group_undo(ctx: StepContext) -> None:
    hub = ctx.systems.jupyterhub
    old, new = ctx.previous_team.jupyterhub_group, ctx.team.jupyterhub_group
    if old:
        hub.group_add_user(group=old, name=ctx.username)
    if new and new != old:
        hub.group_remove_user(group=new, name=ctx.username)
