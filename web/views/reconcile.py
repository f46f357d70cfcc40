"""Reconciliation's findings, a pass on demand, orphans removed or adopted, and repairs."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from onboarding import selectors, services
from onboarding.access import person_is_privileged
from onboarding.errors import InvalidInput
from onboarding.models import Team
from web.permissions import admin_required
from web.plan_words import changes_in_words
from web.views.common import (
    USER_ERRORS,
    actor_name,
    broker_warning,
    person_visible,
    preview_then_commit,
)


@admin_required
def reconcile_findings(request: HttpRequest) -> HttpResponse:
    """What the last reconciliation passes found open, person by person."""
    context = {
        "groups": selectors.findings_open_by_person(),
        "team_names": Team.objects.values_list("name", flat=True),
        "last_pass": selectors.reconcile_last_pass(),
    }
    return render(request, "web/reconcile.html", context)


@require_POST
@admin_required
def reconcile_check(request: HttpRequest) -> HttpResponse:
    """A pass now, by a worker: the page shows its time once it has finished."""
    if services.reconcile_request(actor=actor_name(request)):
        messages.success(
            request, "A reconciliation pass has started; reload this page in a minute to see it."
        )
    else:
        messages.error(request, "The task queue is unreachable: no pass was started.")
    return redirect("reconcile")


@require_POST
@admin_required
def orphan_remove(request: HttpRequest, finding_id: int) -> HttpResponse:
    """Delete an orphan in its system, once the admin has typed its owner's name."""
    try:
        finding = services.orphan_get(finding_id)
        if request.POST.get("confirm", "").strip() != finding.username:
            raise InvalidInput(
                f"Type {finding.username} to confirm removing {finding.subject}; nothing was "
                "removed."
            )
        services.orphan_remove(finding=finding, actor=actor_name(request))
    except USER_ERRORS as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{finding.subject} ({finding.username}) is removed.")
    return redirect("reconcile")


@require_POST
@admin_required
def orphan_adopt(request: HttpRequest, finding_id: int) -> HttpResponse:
    """Take the orphan's owner in as a person of a team; a repair run completes them."""
    try:
        finding = services.orphan_get(finding_id)
        team = selectors.team_get(request.POST.get("team", ""))
        run = services.orphan_adopt(
            finding=finding, team=team, actor=actor_name(request), requested_by=request.user
        )
    except USER_ERRORS as error:
        messages.error(request, str(error))
        return redirect("reconcile")
    messages.success(
        request, f"{run.person.username} is now a person of team {team.name}; run #{run.pk} "
        "gives them what the team needs.",
    )  # fmt: skip
    if person_is_privileged(run.person.username):
        messages.warning(
            request,
            f"{run.person.username} is a platform admin, a team lead or an administrator in "
            f"FreeIPA: only platform admins can act on them; team {team.name}'s leads cannot "
            "reset, offboard or move them.",
        )
    broker_warning(request, run)
    return redirect("run_detail", run_id=run.pk)


@admin_required
def person_repair(request: HttpRequest, username: str) -> HttpResponse:
    """What differs and what a repair would change, in words; its button starts the repair,
    only for exactly what was previewed."""
    person = person_visible(request, username)
    problems: list[str] = []
    gated = None
    try:
        gated = preview_then_commit(
            request, kind="repair", shown={"person": person.username},
            preview=lambda: changes_in_words(
                services.person_repair_preview(person=person), person=person, team=person.team
            ),
            commit=lambda: _repair_queued(request, services.person_repair(
                person=person, actor=actor_name(request), requested_by=request.user
            )),
            refuse=lambda field, error: problems.append(str(error)),
        )  # fmt: skip
        if gated.response:
            return gated.response
    except USER_ERRORS as error:
        problems.append(str(error))
    context = {
        "person": person,
        "findings": selectors.person_findings_open(person),
        "last_pass": selectors.reconcile_last_pass(),
        "problems": problems,
        "preview": gated.preview if gated else None,
        "preview_token": gated.token if gated else None,
    }
    return render(request, "web/repair.html", context, status=400 if problems else 200)


def _repair_queued(request: HttpRequest, run) -> HttpResponse:
    messages.success(request, f"Repairing {run.person.username} is queued as run #{run.pk}.")
    broker_warning(request, run)
    return redirect("run_detail", run_id=run.pk)
