"""IAM's steps: the person's SAML role with their team's policies, a team switch, its deletion."""

from __future__ import annotations

from onboarding.steps import PlanStep, StepContext
from onboarding.systems.iam.client import IAM


class IAMStep(PlanStep):
    system = "iam"

    @staticmethod
    def iam(ctx: StepContext) -> IAM:
        return ctx.client


def _role_make(ctx: StepContext) -> dict:
    role = ctx.client.role_create(
        username=ctx.username,
        team=ctx.team.name,
        policy_arns=list(ctx.team.iam_policy_arns),
        access_point_arn=ctx.fact("access_point_arn"),
    )
    return {"role_name": role.name, "role_arn": role.arn}


class RoleCreate(IAMStep):
    name = "iam_role"
    description = "Create their SAML role with the team's policies"

    def do(self, ctx: StepContext) -> dict:
        return _role_make(ctx)

    def check(self, ctx: StepContext) -> dict | None:
        role = self.iam(ctx).role_find(username=ctx.username)
        if role is None or set(role.policy_arns) != set(ctx.team.iam_policy_arns):
            return None
        return {"role_name": role.name, "role_arn": role.arn}

    def undo(self, ctx: StepContext) -> None:
        self.iam(ctx).role_delete(username=ctx.username)


class RoleRepair(RoleCreate):
    name = "iam_role_repair"
    description = "Make their SAML role as it should be: trust, team tag, team's policies, storage"

    def check(self, ctx: StepContext) -> dict | None:
        # Its own policy names the access point, which this run may have replaced: converge.
        return None

    def undo(self, ctx: StepContext) -> None:
        """Undoing a repair would bring back what was wrong: the role stays."""


class RoleDelete(IAMStep):
    name = "iam_role_removal"
    description = "Delete their IAM role"

    def do(self, ctx: StepContext) -> dict:
        self.iam(ctx).role_delete(username=ctx.username)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        return {} if self.iam(ctx).role_find(username=ctx.username) is None else None

    def undo(self, ctx: StepContext) -> dict:
        return _role_make(ctx)


class TeamPoliciesSwitch(IAMStep):
    name = "iam_team_policies"
    description = "Switch their role to the new team's policies"

    def do(self, ctx: StepContext) -> dict:
        role = self.iam(ctx).role_set_team(
            username=ctx.username, team=ctx.team.name, policy_arns=list(ctx.team.iam_policy_arns)
        )
        return {"role_name": role.name, "policy_arns": list(role.policy_arns)}

    def check(self, ctx: StepContext) -> dict | None:
        role = self.iam(ctx).role_find(username=ctx.username)
        if role is None:
            return None
        if role.team != ctx.team.name or set(role.policy_arns) != set(ctx.team.iam_policy_arns):
            return None
        return {"role_name": role.name, "policy_arns": list(role.policy_arns)}

    def undo(self, ctx: StepContext) -> None:
        self.iam(ctx).role_set_team(
            username=ctx.username,
            team=ctx.previous_team.name,
            policy_arns=list(ctx.previous_team.iam_policy_arns),
        )


ROLE_CREATE = RoleCreate()
ROLE_REPAIR = RoleRepair()
ROLE_DELETE = RoleDelete()
TEAM_POLICIES_SWITCH = TeamPoliciesSwitch()
