"""The lifecycle plans: each an ordered list of stages, read top to bottom.

Each enabled system puts its steps into the stages (see `System.steps`); a run does a stage's
steps together and moves on when all of them are done, so every step may rely on what the
stages before it made. A retry or a second run first checks each step and skips what is already
in place; a rollback undoes the completed steps in reverse.

`manage.py plans` prints every plan with the steps the enabled systems add.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from django.core.exceptions import ImproperlyConfigured

from onboarding.models import LifecycleRun
from onboarding.steps import PlanStep
from onboarding.systems import enabled

Kind = LifecycleRun.Kind


@dataclass(frozen=True)
class Stage:
    name: str
    description: str


STAGES: dict[str, tuple[Stage, ...]] = {
    Kind.ONBOARD: (
        Stage("account", "their account, which everything else hangs off (its uid and gid)"),
        Stage("access", "what the account unlocks: groups, OTP token, storage, notebooks"),
        Stage("cloud_role", "their cloud role, which names their storage"),
    ),
    # A leaver loses every access at once: whatever fails or waits later, their account no
    # longer logs in anywhere and their running work stops in the first stage.
    Kind.OFFBOARD: (
        Stage("cut_off", "their account is disabled, their servers stop, their lead roles end"),
        Stage("services", "their notebook account, cloud role and storage access go"),
        Stage("memberships", "their team groups and OTP tokens go"),
        Stage("preserve", "their account is preserved, so it can be reinstated"),
    ),
    Kind.MOVE: (Stage("team", "their groups, policies and notebook group become the new team's"),),
    Kind.REINSTATE: (
        Stage("account", "their account is restored, enabled and given a new temporary password"),
        Stage("access", "what the account unlocks: groups, OTP token, storage, notebooks"),
        Stage("cloud_role", "their cloud role, which names their storage"),
    ),
    # What reconciliation found missing or wrong for an active person is made as it should be.
    Kind.REPAIR: (
        Stage("account", "their account, as far as it can be made again without a new secret"),
        Stage("access", "exactly their team's groups, their storage as their uid/gid, notebooks"),
        Stage("cloud_role", "their cloud role with the team's policies, naming their storage"),
    ),
    # The old token goes before the new one is made, so only the new one is theirs; the password
    # comes last, so a failure on the way leaves them no secret they cannot use.
    Kind.RESET: (
        Stage("old_token", "their OTP tokens are deleted"),
        Stage("new_token", "a new OTP token is made and its enrolment handed over once"),
        Stage("password", "a new expired temporary password is handed over once"),
    ),
}
# A leaver's leftovers go by the offboarding's own steps.
STEPS_OF = {Kind.REPAIR_OFFBOARDED: Kind.OFFBOARD}
STAGES[Kind.REPAIR_OFFBOARDED] = STAGES[Kind.OFFBOARD]
# Repairs change only what is wrong: each step is checked before it is done, as on a retry.
CHECKED_FIRST = frozenset(LifecycleRun.REPAIRS)


@dataclass(frozen=True)
class Plan:
    kind: str
    steps: tuple[PlanStep, ...]
    # For each step, the steps that must be done before it.
    needs: Mapping[str, frozenset[str]]
    stage_of: Mapping[str, str]
    check_first: bool = False

    def step(self, name: str) -> PlanStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"the {self.kind} plan has no step {name!r}")


def plan_for(kind: str) -> Plan:
    """The plan of that kind for the enabled systems, stage by stage."""
    systems = enabled()
    stages = STAGES[kind]
    source = STEPS_OF.get(kind, kind)
    known = {stage.name for stage in stages}
    for system in systems:
        for plan_kind, stage in system.steps:
            if plan_kind not in STAGES or (plan_kind == source and stage not in known):
                raise ImproperlyConfigured(
                    f"{system.name} puts steps in the {plan_kind} plan's stage {stage!r}, "
                    "which that plan does not have."
                )
    steps: list[PlanStep] = []
    needs: dict[str, frozenset[str]] = {}
    stage_of: dict[str, str] = {}
    earlier: set[str] = set()
    for stage in stages:
        in_stage: list[str] = []
        for system in systems:
            for step in system.steps.get((source, stage.name), ()):
                if step.name in stage_of:
                    raise ImproperlyConfigured(f"{kind} plan: two steps are named {step.name!r}")
                # A step shared by several plans may need a sibling that only some of them have.
                in_plan = {need for need in step.needs if _in_plan(systems, source, need)}
                unknown = in_plan - set(in_stage)
                if unknown:
                    raise ImproperlyConfigured(
                        f"{kind} plan: {step.name} needs {sorted(unknown)}, which are not "
                        f"earlier steps of the {stage.name} stage"
                    )
                steps.append(step)
                needs[step.name] = frozenset(earlier | in_plan)
                stage_of[step.name] = stage.name
                in_stage.append(step.name)
        earlier.update(in_stage)
    return Plan(
        kind, tuple(steps), MappingProxyType(needs), MappingProxyType(stage_of),
        check_first=kind in CHECKED_FIRST,
    )  # fmt: skip


def _in_plan(systems, kind: str, name: str) -> bool:
    return any(
        step.name == name
        for system in systems
        for (plan_kind, _), steps in system.steps.items()
        if plan_kind == kind
        for step in steps
    )
