"""The lifecycle plans: each an ordered list of steps, read top to bottom.

A run does its plan's steps in order; a retry or a second run first checks each step and skips what
is already in place; a rollback undoes the completed steps in reverse.
"""

from dataclasses import replace

from onboarding import steps as s
from onboarding.models import LifecycleRun
from onboarding.steps import StepSpec

# fmt: off
# Each step keeps to a few lines, so a plan reads as a list.
FREEIPA_USER = StepSpec(
    "freeipa_user", "freeipa", "Create the FreeIPA user: OTP required, expired temporary password",
    do=s.freeipa_user_do, check=s.freeipa_user_check, undo=s.freeipa_user_undo,
)
FREEIPA_GROUPS = StepSpec(
    "freeipa_groups", "freeipa", "Add them to the team's FreeIPA groups",
    do=s.freeipa_groups_do, check=s.freeipa_groups_check, undo=s.freeipa_groups_undo,
    needs=("freeipa_user",),
)
OTP_TOKEN = StepSpec(
    "otp_token", "freeipa", "Create their TOTP token",
    do=s.otp_token_do, check=s.otp_token_check, undo=s.otp_tokens_undo,
    needs=("freeipa_user",),
)
EFS_ACCESS_POINT = StepSpec(
    "efs_access_point", "efs", "Create the EFS access point /data/<username> with their uid/gid",
    do=s.efs_access_point_do, check=s.efs_access_point_check, undo=s.efs_access_point_undo,
    needs=("freeipa_user",),  # its uid/gid
)
IAM_ROLE = StepSpec(
    "iam_role", "iam", "Create their SAML role with the team's policies",
    do=s.iam_role_do, check=s.iam_role_check, undo=s.iam_role_undo,
    needs=("efs_access_point",),  # its ARN
)
JUPYTERHUB_ACCESS = StepSpec(
    "jupyterhub_access", "jupyterhub", "Create their JupyterHub user in the team's group",
    do=s.jupyterhub_access_do, check=s.jupyterhub_access_check, undo=s.jupyterhub_access_undo,
    needs=("freeipa_user",),
)

# Steps name what they need; the rest of a plan's steps may run alongside them.
ONBOARD = (FREEIPA_USER, FREEIPA_GROUPS, OTP_TOKEN, EFS_ACCESS_POINT, IAM_ROLE, JUPYTERHUB_ACCESS)

SERVICE_ACCESS_REMOVED = ("jupyterhub_removal", "iam_role_removal", "efs_access_point_removal")
OFFBOARD = (
    StepSpec(
        "jupyterhub_removal", "jupyterhub", "Stop their servers and remove their JupyterHub user",
        do=s.jupyterhub_remove_do, check=s.jupyterhub_remove_check, undo=s.jupyterhub_restore,
    ),
    StepSpec(
        "iam_role_removal", "iam", "Delete their IAM role",
        do=s.iam_role_remove_do, check=s.iam_role_remove_check, undo=s.iam_role_restore,
    ),
    StepSpec(
        "efs_access_point_removal", "efs", "Delete their EFS access point (the data stays)",
        do=s.efs_access_point_remove_do, check=s.efs_access_point_remove_check,
        undo=s.efs_access_point_restore,
    ),
    StepSpec(
        "freeipa_memberships_removal", "freeipa", "Remove them from their FreeIPA groups",
        do=s.freeipa_memberships_remove_do, check=s.freeipa_memberships_remove_check,
        undo=s.freeipa_memberships_remove_undo, needs=SERVICE_ACCESS_REMOVED,
    ),
    StepSpec(
        "otp_tokens_removal", "freeipa", "Delete their OTP tokens",
        do=s.otp_tokens_remove_do, check=s.otp_tokens_remove_check, undo=s.nothing_to_undo,
        needs=SERVICE_ACCESS_REMOVED,
    ),
    StepSpec(
        "freeipa_disable", "freeipa", "Disable the FreeIPA user",
        do=s.freeipa_disable_do, check=s.freeipa_disable_check, undo=s.freeipa_enable,
        needs=("freeipa_memberships_removal", "otp_tokens_removal"),
    ),
    StepSpec(
        "freeipa_preserve", "freeipa", "Preserve the FreeIPA user (restorable)",
        do=s.freeipa_preserve_do, check=s.freeipa_preserve_check, undo=s.freeipa_restore,
        needs=("freeipa_disable",),
    ),
)

MOVE = (
    StepSpec(
        "freeipa_team_groups", "freeipa", "Switch their FreeIPA groups to the new team's",
        do=s.freeipa_groups_switch_do, check=s.freeipa_groups_switch_check,
        undo=s.freeipa_groups_switch_undo,
    ),
    StepSpec(
        "iam_team_policies", "iam", "Switch their role to the new team's policies",
        do=s.iam_team_policies_do, check=s.iam_team_policies_check,
        undo=s.iam_team_policies_undo,
    ),
    StepSpec(
        "jupyterhub_team_group", "jupyterhub", "Switch their JupyterHub group to the new team's",
        do=s.jupyterhub_team_group_do, check=s.jupyterhub_team_group_check,
        undo=s.jupyterhub_team_group_undo,
    ),
)

REINSTATE = (
    StepSpec(
        "freeipa_restore", "freeipa", "Restore the preserved FreeIPA user",
        do=s.freeipa_restore_do, check=s.freeipa_restore_check, undo=s.freeipa_preserve,
    ),
    StepSpec(
        "freeipa_enable", "freeipa", "Enable the FreeIPA user",
        do=s.freeipa_enable_do, check=s.freeipa_enable_check, undo=s.freeipa_disable,
        needs=("freeipa_restore",),
    ),
    StepSpec(
        "freeipa_credentials", "freeipa", "Issue a new expired temporary password, OTP required",
        do=s.freeipa_credentials_do, check=s.freeipa_credentials_check, undo=s.nothing_to_undo,
        needs=("freeipa_enable",),
    ),
    *(replace(spec, needs=("freeipa_credentials",)) if spec.needs == ("freeipa_user",) else spec
      for spec in (FREEIPA_GROUPS, OTP_TOKEN, EFS_ACCESS_POINT, IAM_ROLE, JUPYTERHUB_ACCESS)),
)

# fmt: on

PLANS: dict[str, tuple[StepSpec, ...]] = {
    LifecycleRun.Kind.ONBOARD: ONBOARD,
    LifecycleRun.Kind.OFFBOARD: OFFBOARD,
    LifecycleRun.Kind.MOVE: MOVE,
    LifecycleRun.Kind.REINSTATE: REINSTATE,
}


def plan_for(kind: str) -> tuple[StepSpec, ...]:
    return PLANS[kind]


def _needs_check() -> None:
    """Every plan's needs name earlier steps of the same plan: a run can always go on."""
    for kind, plan in PLANS.items():
        seen: set[str] = set()
        for spec in plan:
            unknown = set(spec.needs) - seen
            if unknown:
                raise ValueError(f"{kind} plan: {spec.name} needs {sorted(unknown)} before it")
            seen.add(spec.name)


_needs_check()
