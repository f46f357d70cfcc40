"""The lifecycle actions a person asks for, each previewed before it is committed."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from onboarding import services
from onboarding.access import onboard_takeover_refuse, refusal_for
from onboarding.enrolment.service import enrolment_by_email
from onboarding.errors import PersonAlreadyKnown
from onboarding.models import Person
from web.forms import MoveForm, OffboardForm, OnboardForm, ReinstateForm
from web.permissions import access_for, staff_required
from web.plan_words import changes_in_words
from web.views.common import (
    USER_ERRORS,
    Gated,
    actor_name,
    broker_warning,
    person_visible,
    preview_then_commit,
    privileged_refuse,
    submitted,
)


def _queued(request: HttpRequest, run, words: str) -> HttpResponse:
    messages.success(request, f"{words} is queued as run #{run.pk}.")
    broker_warning(request, run)
    return redirect("run_detail", run_id=run.pk)


@staff_required
def person_onboard(request: HttpRequest) -> HttpResponse:
    access = access_for(request)
    team_names = list(access.teams().values_list("name", flat=True))
    initial = {name: request.GET.get(name, "") for name in ("team", "username")}
    form = OnboardForm(submitted(request), team_names=team_names, initial=initial)
    gated = known = None
    folded = ""

    def refuse(field: str | None, error) -> None:
        nonlocal known
        if isinstance(error, PersonAlreadyKnown):
            # Beside the field, with the way on: the person's page, and reinstating them; a
            # lead is told nothing of another team's person.
            person = Person.objects.filter(username=error.username).first()
            visible = person is not None and access.may_act_on_team(person.team_id)
            form.add_error("username", str(error) if visible else refusal_for(access, error))
            known = person if visible else None
        else:
            form.add_error(field, refusal_for(access, error) if field is None else error)

    if form.is_bound and form.is_valid():
        fields = {**form.cleaned_data, "team": access.teams().get(name=form.cleaned_data["team"])}
        shown = {**form.cleaned_data, "username": form.cleaned_data["username"].lower()}
        newcomer = Person(**{**fields, "username": shown["username"]})

        def commit() -> HttpResponse:
            run = services.person_onboard(
                **fields, actor=actor_name(request), requested_by=request.user
            )
            if run is None:
                messages.success(
                    request,
                    f"{shown['username']} waits for their start date, "
                    f"{fields['start_date']}: their onboarding starts then.",
                )
                return redirect("person_detail", username=shown["username"])
            return _queued(request, run, f"Onboarding {run.person.username}")

        try:
            onboard_takeover_refuse(access, shown["username"])
            gated = preview_then_commit(
                request, kind="onboard", shown=shown, refuse=refuse, commit=commit,
                preview=lambda: changes_in_words(
                    services.person_onboard_preview(**fields), person=newcomer,
                    team=fields["team"],
                ),
            )  # fmt: skip
            if gated.response:
                return gated.response
            if shown["username"] != form.cleaned_data["username"].strip():
                folded = shown["username"]
        except USER_ERRORS as error:
            refuse(None, error)
    context = {
        "form": form, "no_teams": not team_names, "known": known, "folded": folded,
        **_previewed_context(gated),
    }  # fmt: skip
    return render(request, "web/onboard.html", context)


def _previewed_context(gated: Gated | None) -> dict:
    if gated is None:
        return {"preview": None, "preview_token": None}
    return {"preview": gated.preview, "preview_token": gated.token}


def _form_refuse(form):
    return lambda field, error: form.add_error(field, str(error))


@staff_required
def person_offboard(request: HttpRequest, username: str) -> HttpResponse:
    person = person_visible(request, username)
    refused = privileged_refuse(request, person)
    if refused:
        return refused
    form = OffboardForm(submitted(request), username=person.username)
    gated = None
    if form.is_bound and form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            gated = preview_then_commit(
                request, kind="offboard", shown={"person": person.username, "reason": reason},
                preview=lambda: changes_in_words(
                    services.person_offboard_preview(person=person, reason=reason),
                    person=person, team=person.team,
                ),
                unconfirmed=lambda: None if form.confirmed() else (
                    f"Type {person.username} exactly to confirm; nothing was changed."
                ),
                commit=lambda: _queued(request, services.person_offboard(
                    person=person, reason=reason, actor=actor_name(request),
                    requested_by=request.user,
                ), f"Offboarding {person.username}"),
                refuse=_form_refuse(form),
            )  # fmt: skip
            if gated.response:
                return gated.response
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    context = {"person": person, "form": form, **_previewed_context(gated)}
    return render(request, "web/offboard.html", context)


@staff_required
def person_move(request: HttpRequest, username: str) -> HttpResponse:
    access = access_for(request)
    person = person_visible(request, username)
    refused = privileged_refuse(request, person)
    if refused:
        return refused
    team_names = [
        name for name in access.teams().values_list("name", flat=True) if name != person.team.name
    ]
    form = MoveForm(submitted(request), team_names=team_names)
    gated = None
    if form.is_bound and form.is_valid():
        team = access.teams().get(name=form.cleaned_data["team"])
        try:
            gated = preview_then_commit(
                request, kind="move", shown={"person": person.username, "team": team.name},
                preview=lambda: changes_in_words(
                    services.person_move_preview(person=person, team=team),
                    person=person, team=team, previous_team=person.team,
                ),
                commit=lambda: _queued(request, services.person_move(
                    person=person, team=team, actor=actor_name(request),
                    requested_by=request.user,
                ), f"Moving {person.username} to {team}"),
                refuse=_form_refuse(form),
            )  # fmt: skip
            if gated.response:
                return gated.response
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    context = {"person": person, "form": form, **_previewed_context(gated)}
    return render(request, "web/move.html", context)


@staff_required
def person_reinstate(request: HttpRequest, username: str) -> HttpResponse:
    """Why they come back and to which team (a lead chooses among the teams they lead), the
    preview of that, then the reinstatement."""
    access = access_for(request)
    person = person_visible(request, username)
    refused = privileged_refuse(request, person)
    if refused:
        return refused
    team_names = list(access.teams().values_list("name", flat=True))
    initial = {"team": person.team.name}
    form = ReinstateForm(submitted(request), team_names=team_names, initial=initial)
    gated = None
    if form.is_bound and form.is_valid():
        team = access.teams().get(name=form.cleaned_data["team"])
        asked = {"person": person, "reason": form.cleaned_data["reason"], "team": team}
        shown = {"person": person.username, "reason": asked["reason"], "team": team.name}
        try:
            gated = preview_then_commit(
                request, kind="reinstate", shown=shown,
                preview=lambda: changes_in_words(
                    services.person_reinstate_preview(**asked), person=person, team=team
                ),
                commit=lambda: _queued(request, services.person_reinstate(
                    **asked, actor=actor_name(request), requested_by=request.user
                ), f"Reinstating {person.username} into team {team.name}"),
                refuse=_form_refuse(form),
            )  # fmt: skip
            if gated.response:
                return gated.response
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    context = {"person": person, "form": form, **_previewed_context(gated)}
    return render(request, "web/reinstate.html", context)


@staff_required
def person_credentials_reset(request: HttpRequest, username: str) -> HttpResponse:
    """A page that says what a reset does; its button (a POST) starts it, and the new secrets
    are revealed once, to whoever asked, on the run's page."""
    person = person_visible(request, username)
    refused = privileged_refuse(request, person)
    if refused:
        return refused
    if request.method == "POST":
        try:
            run = services.person_credentials_reset(
                person=person, actor=actor_name(request), requested_by=request.user
            )
        except USER_ERRORS as error:
            messages.error(request, str(error))
            return redirect("person_detail", username=person.username)
        messages.success(
            request, f"Resetting {person.username}'s credentials is queued as run #{run.pk}."
        )
        broker_warning(request, run)
        return redirect("run_detail", run_id=run.pk)
    enrols_by_link = enrolment_by_email() and bool(person.email)
    context = {"person": person, "enrols_by_link": enrols_by_link}
    return render(request, "web/reset_credentials.html", context)
