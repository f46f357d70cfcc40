"""Teams: the list, making and changing one, and giving every member what it now needs."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from onboarding import selectors, services, team_settings
from onboarding.models import Team
from onboarding.team_settings import declared, team_settings_text
from web.forms import TeamForm
from web.permissions import admin_required, visible_or_404
from web.views.common import USER_ERRORS, actor_name, preview_then_commit, submitted


@admin_required
def team_list(request: HttpRequest) -> HttpResponse:
    teams = list(Team.objects.annotate(member_count=Count("members")).prefetch_related("leads"))
    labels = [f"{system.label} {setting.label.lower()}" for system, setting in declared()]
    for team in teams:
        team.settings_shown = list(zip(labels, team_settings_text(team).values(), strict=True))
    context = {"teams": teams, "setting_labels": labels, "columns": 5 + len(labels)}
    return render(request, "web/team_list.html", context)


def _team_checked(form: TeamForm, *, creating: bool) -> bool:
    """Whether the team can be saved as asked; if not, each problem goes beside its field, all
    at once, and nothing is made."""
    problems = services.team_problems(
        creating=creating,
        name=form.cleaned_data["name"] if creating else None,
        group=form.cleaned_data["freeipa_group"].strip(),
        leads=form.lead_names(),
        policy_arns=form.policy_arns(),
        system_settings=form.system_settings(),
    )
    for field, messages_ in problems.items():
        for message in messages_:
            form.add_error(field, message)
    return not problems


@dataclass(frozen=True)
class TeamMade:
    """One thing creating the team makes or sets, and what it means for its members."""

    what: str
    value: str
    for_members: str


def _team_create_preview(form: TeamForm) -> list[TeamMade]:
    """What creating the team as typed would make, in the words its members would use."""
    name, group = form.cleaned_data["name"], form.cleaned_data["freeipa_group"].strip()
    leads = sorted({lead.lower() for lead in form.lead_names()})
    policies = form.policy_arns()
    made = [
        TeamMade("FreeIPA group", group, f"made in FreeIPA (kept as it is if it is there "
                 f"already); everyone onboarded into {name} joins it"),
        TeamMade("Leads (member managers)", ", ".join(leads) or "none",
                 f"{', '.join(leads)} manage the members of {group} and can see and act on "
                 f"{name}'s people" if leads else
                 f"nobody leads {name}: only platform admins act on its people"),
        TeamMade("IAM policies", ", ".join(policies) or "none",
                 "each member's IAM role gets these policies" if policies else
                 "members' IAM roles get no managed policy"),
    ]  # fmt: skip
    values, _ = team_settings.settings_parse(form.system_settings())
    for system, setting in team_settings.declared():
        value = values.get(system.name, {}).get(setting.name, setting.default)
        text = setting.text(value) or "none"
        made.append(TeamMade(f"{system.label} {setting.label.lower()}", text,
                             f"people onboarded into {name} get {text}"))  # fmt: skip
    return made


def _team_create_shown(form: TeamForm) -> dict[str, str]:
    """The team exactly as previewed: the preview token is for these values and no others."""
    return {
        **{field: str(value) for field, value in form.cleaned_data.items()},
        "leads": " ".join(form.lead_names()),
        "iam_policy_arns": "\n".join(form.policy_arns()),
    }


@admin_required
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamForm(submitted(request))
    gated = None
    if form.is_bound and form.is_valid() and _team_checked(form, creating=True):

        def commit() -> HttpResponse:
            team, _ = services.team_set(
                name=form.cleaned_data["name"], group=form.cleaned_data["freeipa_group"].strip(),
                leads=form.lead_names(), policy_arns=form.policy_arns(),
                system_settings=form.system_settings(), actor=actor_name(request),
            )  # fmt: skip
            messages.success(request, f"Team {team.name} is created with FreeIPA group "
                             f"{team.freeipa_group}.")  # fmt: skip
            return redirect("team_list")

        gated = preview_then_commit(
            request, kind="team_create", shown=_team_create_shown(form),
            preview=lambda: _team_create_preview(form), commit=commit,
            refuse=lambda field, error: form.add_error(field, str(error)),
        )  # fmt: skip
        if gated.response:
            return gated.response
    context = {
        "form": form, "team": None,
        "preview": gated.preview if gated else None,
        "preview_token": gated.token if gated else None,
    }  # fmt: skip
    return render(request, "web/team_form.html", context)


@admin_required
def team_edit(request: HttpRequest, name: str) -> HttpResponse:
    team = visible_or_404(request, Team.objects.prefetch_related("leads"), name=name)
    initial = {
        "name": team.name,
        "freeipa_group": team.freeipa_group,
        "leads": " ".join(selectors.team_lead_names(team)),
        "iam_policy_arns": "\n".join(team.iam_policy_arns),
        **team_settings_text(team),
    }
    form = TeamForm(request.POST or None, initial=initial, editing=True)
    changes = None
    if request.method == "POST" and form.is_valid() and _team_checked(form, creating=False):
        values = {
            "group": form.cleaned_data["freeipa_group"].strip(),
            "leads": form.lead_names(),
            "policy_arns": form.policy_arns(),
            "system_settings": form.system_settings(),
        }
        try:
            if request.POST.get("action") == "save":
                services.team_set(name=team.name, **values, actor=actor_name(request))
                messages.success(request, f"Team {team.name} is saved.")
                return redirect("team_list")
            changes = selectors.team_change_preview(team, **values)
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    members = list(team.members.order_by("username"))
    context = {"form": form, "team": team, "changes": changes, "members": members}
    return render(request, "web/team_form.html", context)


@admin_required
@require_POST
def team_members_apply(request: HttpRequest, name: str) -> HttpResponse:
    """Bring the team's active members to what the team now says: a repair run each."""
    team = visible_or_404(request, Team.objects.all(), name=name)
    try:
        outcomes = services.team_members_apply(
            team=team, actor=actor_name(request), requested_by=request.user
        )
    except USER_ERRORS as error:
        messages.error(request, str(error))
        return redirect("team_edit", name=team.name)
    started = [o for o in outcomes if o.run is not None]
    skipped = [f"{o.username} ({o.note})" for o in outcomes if o.run is None]
    messages.success(
        request,
        f"Team {team.name} is being applied to {len(started)} member"
        f"{'' if len(started) == 1 else 's'}: each gets a run that changes only what differs.",
    )
    if skipped:
        messages.warning(request, f"Not now: {', '.join(skipped)}.")
    return redirect("team_edit", name=team.name)
