"""Teams: making and changing them, with every rule a team must meet."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from onboarding import team_settings
from onboarding.audit import audit_record
from onboarding.errors import InvalidInput
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
    jupyterhub_group: str | None = None,
    system_settings: dict[str, dict[str, Any]] | None = None,
    actor: str,
) -> tuple[Team, bool]:
    """Create or change a team; each system makes what the team needs (its FreeIPA group).
    `leads`, when given, is the exact list: whoever is not in it stops leading the team, here
    and as a member manager of its FreeIPA group. Every input is checked before anything
    changes, and all that is wrong is said at once."""
    team = Team.objects.filter(name=name).first()
    created = team is None
    lead_names = None if leads is None else sorted({username_normalise(lead) for lead in leads})
    problems = _team_problems(created, group, policy_arns, jupyterhub_group, lead_names or [])
    setting_values, setting_problems = team_settings.settings_parse(system_settings)
    setting_problems = setting_problems or team_settings.settings_ask(setting_values)
    problems += team_settings.settings_problems_text(setting_problems)
    if policy_arns is not None and not problems:
        # What the systems know against the team as it would be (a role's policy quota).
        candidate = Team(name=name, iam_policy_arns=policy_arns)
        problems += [p for system in enabled() if (p := system.team_problem(candidate))]
    if problems:
        raise InvalidInput(" ".join(problems))
    with transaction.atomic():
        if created:
            team = Team(name=name)
        if group:
            team.freeipa_group = group
        if policy_arns is not None:
            team.iam_policy_arns = policy_arns
        if jupyterhub_group is not None:
            team.jupyterhub_group = jupyterhub_group
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
                "policy_arns": team.iam_policy_arns, "jupyterhub_group": team.jupyterhub_group,
                "system_settings": team_settings.team_settings_all(team),
            },
        )  # fmt: skip
    return team, created


MAX_TEAM_POLICIES = 20


def _team_problems(
    created: bool,
    group: str | None,
    policy_arns: list[str] | None,
    jupyterhub_group: str | None,
    lead_names: list[str],
) -> list[str]:
    problems = []

    def check(rule, *args, **kwargs) -> None:
        try:
            rule(*args, **kwargs)
        except InvalidInput as error:
            problems.append(str(error))

    if created and not group:
        problems.append("A new team needs its FreeIPA group (--group) to be named.")
    if group:
        check(group_name_check, group)
    if jupyterhub_group:
        check(group_name_check, jupyterhub_group, label="JupyterHub group")
    if len(policy_arns or []) > MAX_TEAM_POLICIES:
        problems.append(f"A team may have at most {MAX_TEAM_POLICIES} IAM policies.")
    for arn in policy_arns or []:
        check(policy_arn_check, arn)
    leaving = Person.objects.filter(
        username__in=lead_names, status__in=(Status.OFFBOARDING, Status.OFFBOARDED)
    ).values_list("username", flat=True)
    problems += [f"{username} is offboarded and cannot lead a team." for username in leaving]
    for lead in lead_names:
        for system in enabled():
            problem = system.lead_problem(lead)
            if problem:
                problems.append(problem)
    return problems
