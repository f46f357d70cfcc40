"""Everything wrong with a team form, field by field, before anything is made: the names, that
each lead can lead (asked of the systems), that each policy exists. The service checks again."""

from __future__ import annotations

from typing import Any

from onboarding import team_settings
from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import Person, Team
from onboarding.services import MAX_TEAM_POLICIES
from onboarding.systems import enabled
from onboarding.validation import group_name_check, policy_arn_check, username_normalise


def _rule(problems: list[str], rule, *args, **kwargs) -> bool:
    try:
        rule(*args, **kwargs)
        return True
    except InvalidInput as error:
        problems.append(str(error))
        return False


def _systems_ask(problems: list[str], question, value: str) -> None:
    """Each system's problem with the value; a system that does not answer is a problem too,
    since nothing may be made that cannot be checked."""
    for system in enabled():
        try:
            problem = question(system, value)
        except AccessAdminError as error:
            problem = f"{system.label} did not answer ({error}); try again in a minute."
        if problem:
            problems.append(problem)


def team_problems(
    *,
    name: str | None,
    group: str,
    leads: list[str],
    policy_arns: list[str],
    jupyterhub_group: str,
    system_settings: dict[str, dict[str, Any]] | None = None,
) -> dict[str, list[str]]:
    """{form field: its problems}; empty when the team can be saved. `name` only for a new team."""
    found: dict[str, list[str]] = {}
    if name is not None and Team.objects.filter(name=name).exists():
        found["name"] = [f"There is a team {name} already; choose another name."]
    group_problems: list[str] = []
    _rule(group_problems, group_name_check, group, label="FreeIPA group")
    found["freeipa_group"] = group_problems
    hub_problems: list[str] = []
    if jupyterhub_group:
        _rule(hub_problems, group_name_check, jupyterhub_group, label="JupyterHub group")
    found["jupyterhub_group"] = hub_problems
    found["leads"] = _leads_problems(leads)
    found["iam_policy_arns"] = _policies_problems(policy_arns)
    setting_values, setting_problems = team_settings.settings_parse(system_settings)
    found.update(setting_problems or team_settings.settings_ask(setting_values))
    return {field: problems for field, problems in found.items() if problems}


def _leads_problems(leads: list[str]) -> list[str]:
    problems: list[str] = []
    names = []
    for lead in leads:
        try:
            names.append(username_normalise(lead))
        except InvalidInput as error:
            problems.append(str(error))
    leaving = Person.objects.filter(
        username__in=names, status__in=(Person.Status.OFFBOARDING, Person.Status.OFFBOARDED)
    ).values_list("username", flat=True)
    problems += [f"{username} is offboarded and cannot lead a team." for username in leaving]
    for lead in sorted(set(names)):
        _systems_ask(problems, lambda system, value: system.lead_problem(value), lead)
    return problems


def _policies_problems(policy_arns: list[str]) -> list[str]:
    problems: list[str] = []
    if len(policy_arns) > MAX_TEAM_POLICIES:
        problems.append(f"A team may have at most {MAX_TEAM_POLICIES} IAM policies.")
    for arn in policy_arns:
        if _rule(problems, policy_arn_check, arn):
            _systems_ask(problems, lambda system, value: system.policy_problem(value), arn)
    return problems
