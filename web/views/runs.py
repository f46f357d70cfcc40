"""A run's page, its live progress, resuming, rolling back and requeueing it, and the hand-over
of a new person's credentials."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import qrcode
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from qrcode.image.svg import SvgPathImage

from onboarding import selectors, services
from onboarding.credentials import credentials_reveal
from onboarding.enrolment.service import enrolment_applies
from onboarding.errors import CredentialsGone
from onboarding.models import Credential, LifecycleRun, Team
from onboarding.systems.registry import system_logins
from web.permissions import access_for, no_access, staff_required, visible_or_404
from web.plan_words import changes_in_words, steps_in_words
from web.views.common import (
    USER_ERRORS,
    actor_name,
    admins_only,
    broker_warning,
    preview_then_commit,
)


def _run(request: HttpRequest, run_id: int) -> LifecycleRun:
    runs = access_for(request).runs().select_related("person__team", "requested_by")
    return visible_or_404(request, runs, pk=run_id)


def _run_context(request: HttpRequest, run: LifecycleRun) -> dict:
    access = access_for(request)
    return {
        "run": run,
        "steps": steps_in_words(selectors.run_steps(run), **_run_teams(run)),
        "waits": selectors.run_waits(run),
        "unchanged": selectors.run_steps_unchanged(run),
        "seen": request.GET.get("seen", ""),
        "waiting": selectors.credentials_waiting(run),
        "revealed": selectors.credentials_revealed(run),
        "may_reveal": access.may_reveal_credentials(run),
        "enrols_by_link": enrolment_applies(run),
        "enrolment": run.enrolments.order_by("-created_at").first(),
        "may_resume": access.may_resume_or_roll_back(run),
        "sweep_seconds": settings.LIFECYCLE_SWEEP_SECONDS,
    }


@staff_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    return render(request, "web/run_detail.html", _run_context(request, run))


@staff_required
def run_live(request: HttpRequest, run_id: int) -> HttpResponse:
    """The part of the run page that changes while it runs; polled by htmx."""
    run = _run(request, run_id)
    return render(request, "web/_run_live.html", _run_context(request, run))


@require_POST
@staff_required
def run_resume(request: HttpRequest, run_id: int) -> HttpResponse:
    return _run_action(request, run_id, services.run_resume, "queued again; it goes on from the "
                       "step that failed")  # fmt: skip


@staff_required
def run_rollback(request: HttpRequest, run_id: int) -> HttpResponse:
    """What a rollback would undo, then the rollback, with the person's username typed."""
    run = _run(request, run_id)
    if not access_for(request).may_resume_or_roll_back(run):
        return admins_only(request)
    errors: list[str] = []
    typed = request.POST.get("confirm_username", "").strip()
    try:
        gated = preview_then_commit(
            request, kind="rollback", shown={"run": str(run.pk)},
            preview=lambda: changes_in_words(
                services.run_rollback_preview(run=run), **_run_teams(run)
            ),
            unconfirmed=lambda: None if typed == run.person.username else (
                f"Type {run.person.username} exactly to confirm; nothing was changed."
            ),
            commit=lambda: _run_action(request, run_id, services.run_rollback, "rolling back; "
                                       "completed steps are undone newest first"),
            refuse=lambda field, error: errors.append(str(error)),
        )  # fmt: skip
    except USER_ERRORS as failure:
        messages.error(request, str(failure))
        return redirect("run_detail", run_id=run.pk)
    if gated.response:
        return gated.response
    context = {
        "run": run, "preview": gated.preview, "error": " ".join(errors),
        "preview_token": gated.token,
    }  # fmt: skip
    return render(request, "web/rollback.html", context)


def _run_teams(run: LifecycleRun) -> dict:
    """The person and the teams the run's steps work with: a move's are the one it leaves and
    the one it joins."""
    person = run.person
    if run.kind == LifecycleRun.Kind.MOVE:
        to_team = Team.objects.filter(pk=run.params.get("to_team_id")).first() or person.team
        from_team = Team.objects.filter(name=run.params.get("from_team")).first() or person.team
        return {"person": person, "team": to_team, "previous_team": from_team}
    if run.kind == LifecycleRun.Kind.REINSTATE:
        # Once undone, the person is back in the team they left; the steps were for this one.
        to_team = Team.objects.filter(name=run.params.get("to_team")).first() or person.team
        return {"person": person, "team": to_team}
    return {"person": person, "team": person.team}


def _run_action(request: HttpRequest, run_id: int, action, done: str) -> HttpResponse:
    run = _run(request, run_id)
    if not access_for(request).may_resume_or_roll_back(run):
        return admins_only(request)
    try:
        action(run=run, actor=actor_name(request))
        messages.success(request, f"Run #{run.pk} is {done}.")
    except USER_ERRORS as error:
        messages.error(request, str(error))
    broker_warning(request, run)
    return redirect("run_detail", run_id=run.pk)


@require_POST
@staff_required
def run_requeue(request: HttpRequest, run_id: int) -> HttpResponse:
    return _run_action(request, run_id, services.run_requeue, "sent to the workers again")


@staff_required
def run_credentials(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    if request.method != "POST":
        # An address typed or bookmarked: secrets are revealed only by the run page's button.
        messages.info(
            request, "Credentials are revealed once, with the button on this page; nothing was "
            "revealed by opening that address.",
        )  # fmt: skip
        return redirect("run_detail", run_id=run.pk)
    if enrolment_applies(run):
        messages.info(
            request, f"{run.person.username} sets up their own login by the link e-mailed to "
            "them; nobody else sees their password or OTP key. Nothing was revealed.",
        )  # fmt: skip
        return redirect("run_detail", run_id=run.pk)
    if not access_for(request).may_reveal_credentials(run):
        requester = run.requested_by.get_username() if run.requested_by else run.actor
        return no_access(
            request, "not the requester",
            f"Only {requester}, who asked for run #{run.pk}, can reveal its credentials.",
        )  # fmt: skip
    try:
        revealed = credentials_reveal(run=run, actor=actor_name(request))
    except CredentialsGone as error:
        messages.error(request, str(error))
        return redirect("run_detail", run_id=run.pk)
    context = {"run": run, "sheet": handover_context(run, revealed), **handover_links()}
    response = render(request, "web/credentials.html", context)
    response["Cache-Control"] = "no-store"
    return response


def handover_context(run: LifecycleRun, revealed: dict[str, str], *, prefix: str = "") -> dict:
    """What one person's hand-over sheet shows (web/_handover.html); `prefix` keeps its element
    ids apart from other sheets' on the same page."""
    otp_uri = revealed.get(Credential.Kind.OTP_ENROLMENT, "")
    return {
        "prefix": prefix,
        "run": run,
        "person": run.person,
        "password": revealed.get(Credential.Kind.TEMPORARY_PASSWORD, ""),
        "otp_uri": otp_uri,
        "otp_secret": _otp_secret(otp_uri),
        "otp_qr": qr_data_uri(otp_uri) if otp_uri else "",
    }


def handover_links() -> dict:
    return {
        "freeipa_url": f"https://{settings.FREEIPA_HOST}/ipa/ui/" if settings.FREEIPA_HOST else "",
        "jupyterhub_url": settings.JUPYTERHUB_URL,
        "system_logins": system_logins(),
        "revealed_at": timezone.now(),
    }


def _otp_secret(otp_uri: str) -> str:
    """The key of an otpauth:// URI, in groups of four, for typing into an app by hand."""
    secret = parse_qs(urlsplit(otp_uri).query).get("secret", [""])[0]
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_data_uri(text: str) -> str:
    """An SVG QR code as a data: URI, so no inline markup or style is needed on the page."""
    svg = qrcode.make(text, image_factory=SvgPathImage, box_size=12, border=2).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
