"""Teams: making and changing them, with every rule a team must meet."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from onboarding import team_settings
from onboarding.audit import audit_record
from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import Person, Team
from onboarding.systems import enabled
from onboarding.validation import group_name_check, policy_arn_check, username_normalise

Status = Person.Status


def team_set(
    *,
    name: str,
    group: str | None = None,
    leads: list[str] | None = None,
    policy_arns: list[str] | None = None,
    system_settings: dict[str, dict[str, Any]] | None = None,
    actor: str,
) -> tuple[Team, bool]:
    """Create or change a team; each system makes what the team needs (its FreeIPA group).
    `leads`, when given, is the exact list: whoever is not in it stops leading the team, here
    and as a member manager of its FreeIPA group. Every input is checked before anything
    changes, and all that is wrong is said at once."""
    team = Team.objects.filter(name=name).first()
    created = team is None
    found = team_problems(
        name=None, creating=created, group=group, leads=leads, policy_arns=policy_arns,
        system_settings=system_settings,
    )  # fmt: skip
    problems = [problem for field_problems in found.values() for problem in field_problems]
    if policy_arns is not None and not problems:
        # What the systems know against the team as it would be (a role's policy quota).
        candidate = Team(name=name, iam_policy_arns=policy_arns)
        problems += [p for system in enabled() if (p := system.team_problem(candidate))]
    if problems:
        raise InvalidInput(" ".join(problems))
    lead_names = None if leads is None else sorted({username_normalise(lead) for lead in leads})
    setting_values, _ = team_settings.settings_parse(system_settings)
    with transaction.atomic():
        if created:
            team = Team(name=name)
        if group:
            team.freeipa_group = group
        if policy_arns is not None:
            team.iam_policy_arns = policy_arns
        team.system_settings = team_settings.settings_merged(team, setting_values)
        team.full_clean()
        team.save()
        before = sorted(team.leads.values_list("username", flat=True))
        if lead_names is not None:
            User = get_user_model()
            team.leads.set([User.objects.get_or_create(username=lead)[0] for lead in lead_names])
        for system in enabled():
            system.team_apply(team=team, leads=lead_names)
        after = sorted(team.leads.values_list("username", flat=True))
        audit_record(
            actor=actor, action="team.create" if created else "team.change", target=team.name,
            outcome="succeeded",
            details={
                "group": team.freeipa_group, "leads": after,
                "leads_removed": sorted(set(before) - set(after)),
                "policy_arns": team.iam_policy_arns,
                "system_settings": team_settings.team_settings_all(team),
            },
        )  # fmt: skip
    return team, created


MAX_TEAM_POLICIES = 20


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
    creating: bool,
    group: str | None,
    leads: list[str] | None,
    policy_arns: list[str] | None,
    system_settings: dict[str, dict[str, Any]] | None = None,
) -> dict[str, list[str]]:
    """Everything wrong with a team as asked, {field: its problems}, all at once and before
    anything is made: the names, that each lead can lead and each policy exists (asked of the
    systems). Empty when the team can be saved. `name` is checked only when given (a new team
    from a form); None for any other value means "unchanged", and is not checked."""
    found: dict[str, list[str]] = {}
    if name is not None and Team.objects.filter(name=name).exists():
        found["name"] = [f"There is a team {name} already; choose another name."]
    group_problems: list[str] = []
    if creating and not group:
        group_problems.append("A new team needs its FreeIPA group to be named.")
    elif group is not None:
        _rule(group_problems, group_name_check, group, label="FreeIPA group")
    found["freeipa_group"] = group_problems
    found["leads"] = _leads_problems(leads or [])
    found["iam_policy_arns"] = _policies_problems(policy_arns or [])
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
