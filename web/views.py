"""Web pages: each checks who may see it, reads through selectors and acts through services."""

from __future__ import annotations

import base64
import csv
import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import qrcode
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from kombu import Connection
from qrcode.image.svg import SvgPathImage

from onboarding import health, orphans, selectors, services
from onboarding.audit import audit_record, audit_verify
from onboarding.broker import broker_persistence
from onboarding.bulk import csv_text_decode, csv_text_normalise
from onboarding.credentials import credentials_reveal
from onboarding.errors import (
    AccessAdminError,
    CredentialsGone,
    FileRefused,
    InvalidInput,
    PersonAlreadyKnown,
)
from onboarding.exports import csv_cell
from onboarding.models import Credential, LifecycleRun, Person, Team
from onboarding.preflight import preflight_run
from onboarding.systems import enabled
from onboarding.systems.registry import system_logins
from onboarding.team_settings import team_settings_text
from web.audit_display import entries
from web.forms import (
    AuditFilterForm,
    MoveForm,
    OffboardForm,
    OnboardCsvForm,
    OnboardForm,
    PeopleFilterForm,
    PersonUpdateForm,
    ReinstateForm,
    TeamForm,
)
from web.live_state import answer_within, person_systems_state_within
from web.metrics import bearer_matches
from web.permissions import (
    access_for,
    admin_required,
    denial_record,
    no_access,
    onboard_takeover_refuse,
    person_is_privileged,
    refusal_for,
    staff_required,
    visible_or_404,
)
from web.plan_words import changes_in_words, steps_in_words
from web.previews import NOT_PREVIEWED, preview_matches, preview_token
from web.reviews import reviews_waiting
from web.team_checks import team_problems

# What a person can be told and fix: bad input, a run in the way, or a system refusing.
USER_ERRORS = (AccessAdminError,)
PAGE_SIZE = 50
RUN_ID = re.compile(r"[0-9]{1,18}")


def _database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker_reachable() -> bool:
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the service and its engine are sound ("ok") or an offboarding waits on a system
    that does not answer ("degraded"); 503 when the database or broker is down ("unavailable")
    or the engine is not doing its work on time ("unhealthy": `problems` says what).
    `?scope=web` asks only what this web process needs to serve, for its own probes: an engine
    problem must not take away the pages and API through which people are offboarded.
    Anyone gets the status alone; what lies behind it (which part is down, how many runs wait)
    needs the metrics token or a platform admin's login."""
    checks = {"database": _database_reachable(), "broker": _broker_reachable()}
    if request.GET.get("scope") == "web":
        body = {name: "ok" if ok else "unreachable" for name, ok in checks.items()}
        reachable = all(checks.values())
        body["status"] = "ok" if reachable else "unavailable"
        return _health_answer(request, body, 200 if reachable else 503)
    reachable = all(checks.values())
    body = {"status": "ok" if reachable else "unavailable"}
    body.update({name: "ok" if ok else "unreachable" for name, ok in checks.items()})
    if checks["broker"]:
        body["broker_persistence"] = broker_persistence()
    if checks["database"]:
        # Runs no worker has in hand; beat hands them on, so a number that stays up needs a look.
        body["runs_overdue"] = selectors.runs_overdue_count()
        engine = health.engine_health()
        body.update(engine.as_dict())
        if reachable:
            body["status"] = engine.status
    healthy = body["status"] in (health.OK, health.DEGRADED)
    return _health_answer(request, body, 200 if healthy else 503)


def _health_answer(request: HttpRequest, body: dict, status: int) -> JsonResponse:
    shown = body if _health_details_allowed(request) else {"status": body["status"]}
    return JsonResponse(shown, status=status)


def _health_details_allowed(request: HttpRequest) -> bool:
    if settings.METRICS_TOKEN and bearer_matches(request, settings.METRICS_TOKEN):
        return True
    return request.user.is_authenticated and access_for(request).is_admin


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _broker_warning(request: HttpRequest, run: LifecycleRun) -> None:
    if run.dispatched is False:
        messages.warning(
            request,
            f"The task queue is unreachable: run #{run.pk} is saved and starts by itself when "
            "the queue is back.",
        )


# Dashboard and people -----------------------------------------------------------------------


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    access = access_for(request)
    context = {
        "people_by_status": selectors.people_by_status(access.people()),
        "runs_in_progress": selectors.runs_in_progress(access.runs()),
        "offboardings_waiting": selectors.offboardings_waiting(access.runs()),
        "people_leaving_soon": selectors.people_leaving_soon(access.people()),
        "leaving_soon_days": settings.LEAVING_SOON_DAYS,
        "runs_needing_action": selectors.runs_needing_action(access.runs()),
        "recent_events": entries(selectors.events_recent(access.events())),
        "no_teams": not access.teams().exists(),
        "first_steps": selectors.first_steps() if access.is_admin else None,
        "findings_open": selectors.findings_open_count() if access.is_admin else None,
        "last_pass": selectors.reconcile_last_pass() if access.is_admin else None,
        "reviews_waiting": reviews_waiting(access),
    }
    return render(request, "web/dashboard.html", context)


PREFLIGHT_CACHE_KEY = "web:preflight"


@admin_required
def preflight_panel(request: HttpRequest) -> HttpResponse:
    """The dashboard's preflight, fetched after the page: every system asked with one deadline,
    the answer kept a few minutes so a dashboard reload does not ask them all again."""
    found = cache.get(PREFLIGHT_CACHE_KEY)
    if found is None:
        found = answer_within(preflight_run, timeout=settings.PREFLIGHT_TIMEOUT_SECONDS)
        if found is not None:
            cache.set(PREFLIGHT_CACHE_KEY, found, settings.PREFLIGHT_CACHE_SECONDS)
    context = {
        "found": found,
        "failed": found is not None and any(check.failed for _, check in found),
        "timeout": settings.PREFLIGHT_TIMEOUT_SECONDS,
    }
    return render(request, "web/_preflight.html" if request.htmx else "web/preflight.html", context)


@staff_required
def people_list(request: HttpRequest) -> HttpResponse:
    access = access_for(request)
    team_names = list(access.teams().values_list("name", flat=True))
    form = PeopleFilterForm(request.GET or None, team_names=team_names)
    where = form.cleaned_data if form.is_valid() else {}
    people = selectors.people_search(
        access.people(),
        text=where.get("q", "").strip(),
        team=where.get("team", ""),
        status=where.get("status", ""),
    )
    page = Paginator(people, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "web/people_list.html", context)


def _person(request: HttpRequest, username: str) -> Person:
    people = access_for(request).people().select_related("team")
    return visible_or_404(request, people, username=username)


@staff_required
def person_detail(request: HttpRequest, username: str) -> HttpResponse:
    access = access_for(request)
    person = _person(request, username)
    may_act = access.may_act_on(person)
    other_teams = access.teams().exclude(pk=person.team_id).exists()
    runs = selectors.person_runs(person)
    context = {
        "person": person,
        "runs": runs,
        "events": entries(selectors.person_events(person)),
        "may_act": may_act,
        "may_offboard": may_act and person.may_be_offboarded,
        "may_move": may_act and person.may_be_moved and other_teams,
        "no_team_to_move_to": may_act and person.may_be_moved and not other_teams,
        "may_reinstate": may_act and person.may_be_reinstated,
        "may_reset_credentials": may_act and person.status == Person.Status.ACTIVE,
        "update_form": _update_form(person) if may_act and _may_update(person) else None,
        # Left "new" by a rolled-back onboarding: the way on is to onboard them again.
        "may_onboard_again": may_act
        and person.status == Person.Status.NEW
        and not any(run.is_active for run in runs),
        # Only their names: the systems are asked by the fragment, after the page is shown.
        "systems": enabled(),
        # What reconciliation found differs from what they should hold, for admins to repair.
        "findings": selectors.person_findings_open(person) if access.is_admin else None,
        "last_pass": selectors.reconcile_last_pass() if access.is_admin else None,
        "repair_busy": any(run.is_active for run in runs),
    }
    return render(request, "web/person_detail.html", context)


@staff_required
def person_systems(request: HttpRequest, username: str) -> HttpResponse:
    """Each system's view of the person, asked live and at once with one deadline; a fragment
    for htmx (the person page asks for it once it is shown), a page otherwise."""
    person = _person(request, username)
    timeout = settings.LIVE_STATE_TIMEOUT_SECONDS
    states = person_systems_state_within(person, timeout=timeout)
    context = {"person": person, "states": states, "timeout": timeout}
    template = "web/_systems.html" if request.htmx else "web/person_systems.html"
    return render(request, template, context)


def _may_update(person: Person) -> bool:
    return person.status == Person.Status.ACTIVE


def _update_form(person: Person, data=None) -> PersonUpdateForm:
    initial = {name: getattr(person, name) for name in ("first_name", "last_name", "email")}
    return PersonUpdateForm(data, initial=initial)


@staff_required
def person_update(request: HttpRequest, username: str) -> HttpResponse:
    """Their name and e-mail, changed in FreeIPA and here, or not at all."""
    person = _person(request, username)
    refused = _privileged_refuse(request, person)
    if refused:
        return refused
    form = _update_form(person, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.person_update(person=person, **form.cleaned_data, actor=_actor(request))
            messages.success(
                request, f"{person.username} is now {person.full_name} <{person.email}>."
            )
            return redirect("person_detail", username=person.username)
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    context = {"person": person, "form": form, "may_update": _may_update(person)}
    return render(request, "web/person_update.html", context)


# Lifecycle actions ----------------------------------------------------------------------------


def _previewed(request: HttpRequest, kind: str, shown: dict[str, str]) -> bool:
    return preview_matches(request.POST.get("preview_token", ""), kind, shown)


def _privileged_refuse(request: HttpRequest, person: Person) -> HttpResponse | None:
    """A team lead acts on the ordinary members of their teams; admins and leads are for
    platform admins to act on."""
    if access_for(request).may_act_on(person):
        return None
    return no_access(
        request, "the person is a platform admin or a team lead",
        f"{person.username} is a platform admin or a team lead: only a platform admin can "
        "change, offboard, move or reinstate them.",
    )  # fmt: skip


@staff_required
def person_onboard(request: HttpRequest) -> HttpResponse:
    access = access_for(request)
    team_names = list(access.teams().values_list("name", flat=True))
    initial = {name: request.GET.get(name, "") for name in ("team", "username")}
    form = OnboardForm(request.POST or None, team_names=team_names, initial=initial)
    preview = token = known = None
    folded = ""
    if request.method == "POST" and form.is_valid():
        fields = {**form.cleaned_data, "team": access.teams().get(name=form.cleaned_data["team"])}
        shown = {**form.cleaned_data, "username": form.cleaned_data["username"].lower()}
        try:
            onboard_takeover_refuse(access, shown["username"])
            committing = request.POST.get("action") == "onboard"
            if committing and not _previewed(request, "onboard", shown):
                form.add_error(None, NOT_PREVIEWED)
            elif committing:
                run = services.person_onboard(
                    **fields, actor=_actor(request), requested_by=request.user
                )
                if run is None:
                    messages.success(
                        request,
                        f"{shown['username']} waits for their start date, "
                        f"{fields['start_date']}: their onboarding starts then.",
                    )
                    return redirect("person_detail", username=shown["username"])
                messages.success(
                    request, f"Onboarding {run.person.username} is queued as run #{run.pk}."
                )
                _broker_warning(request, run)
                return redirect("run_detail", run_id=run.pk)
            newcomer = Person(**{**fields, "username": shown["username"]})
            preview = changes_in_words(
                services.person_onboard_preview(**fields), person=newcomer, team=fields["team"]
            )
            token = preview_token("onboard", shown)
            if shown["username"] != form.cleaned_data["username"].strip():
                folded = shown["username"]
        except PersonAlreadyKnown as error:
            # Beside the field, with the way on: the person's page, and reinstating them; a
            # lead is told nothing of another team's person.
            person = Person.objects.filter(username=error.username).first()
            visible = person is not None and access.may_act_on_team(person.team_id)
            form.add_error("username", str(error) if visible else refusal_for(access, error))
            known = person if visible else None
        except USER_ERRORS as error:
            form.add_error(None, refusal_for(access, error))
    context = {
        "form": form, "preview": preview, "preview_token": token, "no_teams": not team_names,
        "known": known, "folded": folded,
    }  # fmt: skip
    return render(request, "web/onboard.html", context)


@staff_required
def people_onboard_csv(request: HttpRequest) -> HttpResponse:
    """Upload a CSV file, see every row's preview, then start every run (or none)."""
    access = access_for(request)
    allowed = None if access.is_admin else access.teams()
    form = OnboardCsvForm(request.POST or None, request.FILES or None)
    context: dict = {"form": form, "problems": [], "rows": None, "max_rows": settings.BULK_MAX_ROWS}
    try:
        if request.POST.get("action") == "onboard":
            text = csv_text_normalise(request.POST.get("csv_text", ""))
            if not _previewed(request, "onboard_csv", {"text": text}):
                raise AccessAdminError(NOT_PREVIEWED)
            onboarded = services.people_onboard_csv(
                text=text, actor=_actor(request), allowed_teams=allowed, requested_by=request.user
            )
            messages.success(request, _bulk_onboarded_words(onboarded))
            query = "runs=" + ",".join(str(run.pk) for run in onboarded.runs)
            if onboarded.waiting:
                query += "&" + urlencode(
                    {"waiting": ",".join(person.username for person in onboarded.waiting)}, safe=","
                )
            return redirect(f"{reverse('runs_bulk')}?{query}")
        if request.method == "POST" and form.is_valid():
            text = csv_text_decode(form.cleaned_data["file"].read())
            previews = services.people_onboard_csv_preview(text=text, allowed_teams=allowed)
            context["rows"] = [
                (
                    row,
                    changes_in_words(changes, person=services.bulk_row_person(row), team=row.team),
                )
                for row, changes in previews
            ]
            context.update(
                csv_text=text, preview_token=preview_token("onboard_csv", {"text": text}),
                waiting_count=sum(row.waits for row, _ in previews),
            )  # fmt: skip
    except FileRefused as error:
        context["problems"] = error.problems
    except USER_ERRORS as error:
        form.add_error(None, str(error))
    return render(request, "web/onboard_csv.html", context)


def _bulk_onboarded_words(onboarded: services.BulkOnboarded) -> str:
    said = [f"{len(onboarded.runs)} onboardings are queued."]
    if onboarded.waiting:
        said.append(
            f"{len(onboarded.waiting)} wait for their start date (no run until then): "
            + ", ".join(f"{p.username} on {p.start_date}" for p in onboarded.waiting)
            + "."
        )
    return " ".join(said)


def _run_ids(listed: str) -> list[int]:
    """The run numbers of a comma-separated list, in order, once each; anything else in it is
    left out (a BigAutoField holds at most 19 digits)."""
    ids = (part.strip() for part in listed.split(","))
    return list(dict.fromkeys(int(part) for part in ids if RUN_ID.fullmatch(part)))


def _bulk_runs(request: HttpRequest, ids: list[int]) -> list[LifecycleRun]:
    runs = access_for(request).runs().filter(pk__in=ids)
    return list(runs.select_related("person__team", "requested_by").order_by("pk"))


@staff_required
def runs_bulk(request: HttpRequest) -> HttpResponse:
    """The runs a bulk onboarding started, refreshed while any is still going, and the people it
    recorded to wait for their start date."""
    access = access_for(request)
    runs = _bulk_runs(request, _run_ids(request.GET.get("runs", ""))[: settings.BULK_MAX_ROWS])
    usernames = [name.strip() for name in request.GET.get("waiting", "").split(",")]
    waiting = (
        access.people()
        .filter(username__in=usernames[: settings.BULK_MAX_ROWS], waits_for_start=True)
        .select_related("team")
        .order_by("start_date", "username")
    )
    context = {
        "runs": runs,
        "run_ids": ",".join(str(run.pk) for run in runs),
        "waiting": list(waiting),
        "active": any(run.is_active for run in runs),
        "may_reveal": any(
            run.state == LifecycleRun.State.SUCCEEDED and access.may_reveal_credentials(run)
            for run in runs
        ),
    }
    template = "web/_runs_bulk.html" if request.htmx else "web/runs_bulk.html"
    return render(request, template, context)


@staff_required
def runs_bulk_credentials(request: HttpRequest) -> HttpResponse:
    """Every credential of a bulk's runs revealed at once: a hand-over sheet per person, and,
    instead of a sheet, why not for each run that cannot be revealed here."""
    if request.method != "POST":
        # An address typed or bookmarked: secrets are revealed only by the bulk page's button.
        messages.info(
            request, "Credentials are revealed once, with the button on this page; nothing was "
            "revealed by opening that address.",
        )  # fmt: skip
        ids = _run_ids(request.GET.get("runs", ""))[: settings.BULK_MAX_ROWS]
        return redirect(f"{reverse('runs_bulk')}?runs={','.join(map(str, ids))}")
    ids = _run_ids(request.POST.get("runs", ""))
    context: dict = {"sheets": [], "refused": [], "problem": "", **_handover_links()}
    if not ids:
        context["problem"] = "No run was named; nothing was revealed."
    elif len(ids) > settings.BULK_MAX_ROWS:
        context["problem"] = (
            f"{len(ids)} runs is more than one bulk onboarding has (at most "
            f"{settings.BULK_MAX_ROWS}, BULK_MAX_ROWS); nothing was revealed."
        )
    else:
        context.update(_bulk_reveal(request, ids))
    status = 400 if context["problem"] else 200
    response = render(request, "web/runs_bulk_credentials.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _bulk_reveal(request: HttpRequest, ids: list[int]) -> dict:
    access = access_for(request)
    runs = {run.pk: run for run in _bulk_runs(request, ids)}
    sheets, refused, not_requester = [], [], False
    for run_id in ids:
        run = runs.get(run_id)
        if run is None:
            refused.append((run_id, None, "there is no such run among those you may see"))
        elif run.state != LifecycleRun.State.SUCCEEDED:
            state = run.get_state_display().lower()
            refused.append((run_id, run, f"the run is {state}: only a succeeded run's "
                            "credentials are handed over"))  # fmt: skip
        elif not access.may_reveal_credentials(run):
            requester = run.requested_by.get_username() if run.requested_by else run.actor
            refused.append((run_id, run, f"only {requester}, who asked for it, can reveal its "
                            "credentials"))  # fmt: skip
            not_requester = True
        else:
            try:
                revealed = credentials_reveal(run=run, actor=_actor(request))
                sheets.append(_handover(run, revealed, prefix=f"run-{run.pk}-"))
            except CredentialsGone as error:
                refused.append((run_id, run, str(error)))
    hidden = [run_id for run_id in ids if run_id not in runs]
    if hidden and LifecycleRun.objects.filter(pk__in=hidden).exists():
        denial_record(request, "runs outside their teams")
    if not_requester:
        denial_record(request, "not the requester")
    return {"sheets": sheets, "refused": refused}


@staff_required
def person_offboard(request: HttpRequest, username: str) -> HttpResponse:
    person = _person(request, username)
    refused = _privileged_refuse(request, person)
    if refused:
        return refused
    form = OffboardForm(request.POST or None, username=person.username)
    preview = token = None
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        shown = {"person": person.username, "reason": reason}
        try:
            preview = changes_in_words(
                services.person_offboard_preview(person=person, reason=reason),
                person=person, team=person.team,
            )  # fmt: skip
            token = preview_token("offboard", shown)
            if request.POST.get("action") == "offboard":
                if not _previewed(request, "offboard", shown):
                    form.add_error(None, NOT_PREVIEWED)
                elif not form.confirmed():
                    form.add_error(
                        "confirm_username",
                        f"Type {person.username} exactly to confirm; nothing was changed.",
                    )
                else:
                    run = services.person_offboard(
                        person=person, reason=reason, actor=_actor(request),
                        requested_by=request.user,
                    )  # fmt: skip
                    messages.success(
                        request, f"Offboarding {person.username} is queued as run #{run.pk}."
                    )
                    _broker_warning(request, run)
                    return redirect("run_detail", run_id=run.pk)
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    context = {"person": person, "form": form, "preview": preview, "preview_token": token}
    return render(request, "web/offboard.html", context)


@staff_required
def person_move(request: HttpRequest, username: str) -> HttpResponse:
    access = access_for(request)
    person = _person(request, username)
    refused = _privileged_refuse(request, person)
    if refused:
        return refused
    team_names = [
        name for name in access.teams().values_list("name", flat=True) if name != person.team.name
    ]
    form = MoveForm(request.POST or None, team_names=team_names)
    preview = token = None
    if request.method == "POST" and form.is_valid():
        team = access.teams().get(name=form.cleaned_data["team"])
        shown = {"person": person.username, "team": team.name}
        try:
            if request.POST.get("action") == "move" and not _previewed(request, "move", shown):
                form.add_error(None, NOT_PREVIEWED)
            elif request.POST.get("action") == "move":
                run = services.person_move(
                    person=person, team=team, actor=_actor(request), requested_by=request.user
                )
                messages.success(
                    request, f"Moving {person.username} to {team} is queued as run #{run.pk}."
                )
                _broker_warning(request, run)
                return redirect("run_detail", run_id=run.pk)
            preview = changes_in_words(
                services.person_move_preview(person=person, team=team),
                person=person, team=team, previous_team=person.team,
            )  # fmt: skip
            token = preview_token("move", shown)
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    context = {"person": person, "form": form, "preview": preview, "preview_token": token}
    return render(request, "web/move.html", context)


@staff_required
def person_reinstate(request: HttpRequest, username: str) -> HttpResponse:
    """Why they come back and to which team (a lead chooses among the teams they lead), the
    preview of that, then the reinstatement."""
    access = access_for(request)
    person = _person(request, username)
    refused = _privileged_refuse(request, person)
    if refused:
        return refused
    team_names = list(access.teams().values_list("name", flat=True))
    initial = {"team": person.team.name}
    form = ReinstateForm(request.POST or None, team_names=team_names, initial=initial)
    preview = token = None
    if request.method == "POST" and form.is_valid():
        team = access.teams().get(name=form.cleaned_data["team"])
        asked = {"person": person, "reason": form.cleaned_data["reason"], "team": team}
        shown = {"person": person.username, "reason": asked["reason"], "team": team.name}
        try:
            preview = changes_in_words(
                services.person_reinstate_preview(**asked), person=person, team=team
            )
            token = preview_token("reinstate", shown)
            if request.POST.get("action") == "reinstate":
                if not _previewed(request, "reinstate", shown):
                    form.add_error(None, NOT_PREVIEWED)
                else:
                    run = services.person_reinstate(
                        **asked, actor=_actor(request), requested_by=request.user
                    )
                    messages.success(
                        request,
                        f"Reinstating {person.username} into team {team.name} is queued as run "
                        f"#{run.pk}.",
                    )
                    _broker_warning(request, run)
                    return redirect("run_detail", run_id=run.pk)
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    context = {"person": person, "form": form, "preview": preview, "preview_token": token}
    return render(request, "web/reinstate.html", context)


# Runs -----------------------------------------------------------------------------------------


@staff_required
def person_credentials_reset(request: HttpRequest, username: str) -> HttpResponse:
    """A page that says what a reset does; its button (a POST) starts it, and the new secrets
    are revealed once, to whoever asked, on the run's page."""
    person = _person(request, username)
    refused = _privileged_refuse(request, person)
    if refused:
        return refused
    if request.method == "POST":
        try:
            run = services.person_credentials_reset(
                person=person, actor=_actor(request), requested_by=request.user
            )
        except USER_ERRORS as error:
            messages.error(request, str(error))
            return redirect("person_detail", username=person.username)
        messages.success(
            request, f"Resetting {person.username}'s credentials is queued as run #{run.pk}."
        )
        _broker_warning(request, run)
        return redirect("run_detail", run_id=run.pk)
    return render(request, "web/reset_credentials.html", {"person": person})


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
        return _admins_only(request)
    shown = {"run": str(run.pk)}
    error = ""
    try:
        undos = changes_in_words(services.run_rollback_preview(run=run), **_run_teams(run))
    except USER_ERRORS as failure:
        messages.error(request, str(failure))
        return redirect("run_detail", run_id=run.pk)
    if request.method == "POST":
        typed = request.POST.get("confirm_username", "").strip()
        if not _previewed(request, "rollback", shown):
            error = NOT_PREVIEWED
        elif typed != run.person.username:
            error = f"Type {run.person.username} exactly to confirm; nothing was changed."
        else:
            return _run_action(request, run_id, services.run_rollback, "rolling back; completed "
                               "steps are undone newest first")  # fmt: skip
    context = {
        "run": run, "preview": undos, "error": error,
        "preview_token": preview_token("rollback", shown),
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


def _admins_only(request: HttpRequest) -> HttpResponse:
    return no_access(
        request, "admins only", "Only platform admins can resume, roll back or requeue a run."
    )


def _run_action(request: HttpRequest, run_id: int, action, done: str) -> HttpResponse:
    run = _run(request, run_id)
    if not access_for(request).may_resume_or_roll_back(run):
        return _admins_only(request)
    try:
        action(run=run, actor=_actor(request))
        messages.success(request, f"Run #{run.pk} is {done}.")
    except USER_ERRORS as error:
        messages.error(request, str(error))
    _broker_warning(request, run)
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
    if not access_for(request).may_reveal_credentials(run):
        requester = run.requested_by.get_username() if run.requested_by else run.actor
        return no_access(
            request, "not the requester",
            f"Only {requester}, who asked for run #{run.pk}, can reveal its credentials.",
        )  # fmt: skip
    try:
        revealed = credentials_reveal(run=run, actor=_actor(request))
    except CredentialsGone as error:
        messages.error(request, str(error))
        return redirect("run_detail", run_id=run.pk)
    context = {"run": run, "sheet": _handover(run, revealed), **_handover_links()}
    response = render(request, "web/credentials.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _handover(run: LifecycleRun, revealed: dict[str, str], *, prefix: str = "") -> dict:
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
        "otp_qr": _qr_data_uri(otp_uri) if otp_uri else "",
    }


def _handover_links() -> dict:
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


def _qr_data_uri(text: str) -> str:
    """An SVG QR code as a data: URI, so no inline markup or style is needed on the page."""
    svg = qrcode.make(text, image_factory=SvgPathImage, box_size=12, border=2).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


# Teams ----------------------------------------------------------------------------------------


@admin_required
def team_list(request: HttpRequest) -> HttpResponse:
    teams = Team.objects.annotate(member_count=Count("members")).prefetch_related("leads")
    return render(request, "web/team_list.html", {"teams": teams})


def _team_checked(form: TeamForm, *, creating: bool) -> bool:
    """Whether the team can be saved as asked; if not, each problem goes beside its field, all
    at once, and nothing is made."""
    problems = team_problems(
        name=form.cleaned_data["name"] if creating else None,
        group=form.cleaned_data["freeipa_group"].strip(),
        leads=form.lead_names(),
        policy_arns=form.policy_arns(),
        jupyterhub_group=form.cleaned_data["jupyterhub_group"].strip(),
        system_settings=form.system_settings(),
    )
    for field, messages_ in problems.items():
        for message in messages_:
            form.add_error(field, message)
    return not problems


@admin_required
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _team_checked(form, creating=True):
        try:
            team, _ = services.team_set(
                name=form.cleaned_data["name"], group=form.cleaned_data["freeipa_group"],
                leads=form.lead_names(), policy_arns=form.policy_arns(),
                jupyterhub_group=form.cleaned_data["jupyterhub_group"],
                system_settings=form.system_settings(), actor=_actor(request),
            )  # fmt: skip
            messages.success(request, f"Team {team.name} is created with FreeIPA group "
                             f"{team.freeipa_group}.")  # fmt: skip
            return redirect("team_list")
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    return render(request, "web/team_form.html", {"form": form, "team": None})


@admin_required
def team_edit(request: HttpRequest, name: str) -> HttpResponse:
    team = visible_or_404(request, Team.objects.prefetch_related("leads"), name=name)
    initial = {
        "name": team.name,
        "freeipa_group": team.freeipa_group,
        "leads": " ".join(selectors.team_lead_names(team)),
        "iam_policy_arns": "\n".join(team.iam_policy_arns),
        "jupyterhub_group": team.jupyterhub_group,
        **team_settings_text(team),
    }
    form = TeamForm(request.POST or None, initial=initial, editing=True)
    changes = None
    if request.method == "POST" and form.is_valid() and _team_checked(form, creating=False):
        values = {
            "group": form.cleaned_data["freeipa_group"].strip(),
            "leads": form.lead_names(),
            "policy_arns": form.policy_arns(),
            "jupyterhub_group": form.cleaned_data["jupyterhub_group"].strip(),
            "system_settings": form.system_settings(),
        }
        try:
            if request.POST.get("action") == "save":
                services.team_set(name=team.name, **values, actor=_actor(request))
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
            team=team, actor=_actor(request), requested_by=request.user
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


# Reconciliation -------------------------------------------------------------------------------


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
    if services.reconcile_request(actor=_actor(request)):
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
        finding = orphans.orphan_get(finding_id)
        if request.POST.get("confirm", "").strip() != finding.username:
            raise InvalidInput(
                f"Type {finding.username} to confirm removing {finding.subject}; nothing was "
                "removed."
            )
        orphans.orphan_remove(finding=finding, actor=_actor(request))
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
        finding = orphans.orphan_get(finding_id)
        team = selectors.team_get(request.POST.get("team", ""))
        run = orphans.orphan_adopt(
            finding=finding, team=team, actor=_actor(request), requested_by=request.user
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
    _broker_warning(request, run)
    return redirect("run_detail", run_id=run.pk)


@require_POST
@admin_required
def person_repair(request: HttpRequest, username: str) -> HttpResponse:
    person = _person(request, username)
    try:
        run = services.person_repair(
            person=person, actor=_actor(request), requested_by=request.user
        )
    except USER_ERRORS as error:
        messages.error(request, str(error))
        return redirect("reconcile")
    messages.success(request, f"Run #{run.pk} ({run.get_kind_display().lower()}) is queued.")
    _broker_warning(request, run)
    return redirect("run_detail", run_id=run.pk)


# Audit ----------------------------------------------------------------------------------------


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    status = 400 if form.is_bound and not form.is_valid() else 200
    where = form.audit_filter()
    before = request.GET.get("before", "")
    events, next_before = selectors.audit_page(
        where, before=int(before) if before.isdigit() else None, size=PAGE_SIZE
    )
    query = request.GET.copy()
    query.pop("before", None)
    # Asked for step events by name, a reader wants them one by one.
    group_steps = "step" not in where.action_contains
    filtered = any(value for value in vars(where).values())
    context = {
        "form": form,
        "entries": entries(events, group_steps=group_steps),
        "group_steps": group_steps,
        "empty": "No events match these filters." if filtered else "Nothing has happened yet.",
        "next_before": next_before,
        "query": query.urlencode(),
        "actions": selectors.audit_actions(),
        "first_page": not before,
    }
    return render(request, "web/audit_log.html", context, status=status)


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin_required
def audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            f"Bad filter: {form.errors.as_text()}", status=400, content_type="text/plain"
        )
    where = form.audit_filter()
    _export_record(request, where, "csv")
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(["id", "at", "actor", "action", "target", "outcome", "run", "details",
                               "hash"])  # fmt: skip
        for event in selectors.audit_search(where).iterator(chunk_size=2000):
            yield writer.writerow([
                event.id, event.at.isoformat(), csv_cell(event.actor), csv_cell(event.action),
                csv_cell(event.target), event.outcome, event.run_id or "",
                csv_cell(json.dumps(event.details, sort_keys=True, default=str)), event.hash,
            ])  # fmt: skip

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


@admin_required
def audit_export_json(request: HttpRequest) -> HttpResponse:
    """The same events as the CSV, as a JSON array of objects with the details as written."""
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return JsonResponse({"error": f"Bad filter: {form.errors.as_text()}"}, status=400)
    where = form.audit_filter()
    _export_record(request, where, "json")

    def rows() -> Iterator[str]:
        yield "["
        for index, event in enumerate(selectors.audit_search(where).iterator(chunk_size=2000)):
            row = {
                "id": event.id, "at": event.at.isoformat(), "actor": event.actor,
                "action": event.action, "target": event.target, "outcome": event.outcome,
                "run": event.run_id, "details": event.details, "hash": event.hash,
            }  # fmt: skip
            yield ("," if index else "") + "\n" + json.dumps(row, sort_keys=True, default=str)
        yield "\n]\n"

    response = StreamingHttpResponse(rows(), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="audit.json"'
    return response


def _export_record(request: HttpRequest, where, form_of: str) -> None:
    details = {name: str(value) for name, value in vars(where).items() if value}
    audit_record(
        actor=_actor(request), action="audit.export", target="audit", outcome="succeeded",
        details={**details, "format": form_of},
    )  # fmt: skip


@admin_required
def audit_verify_page(request: HttpRequest) -> HttpResponse:
    result = None
    if request.method == "POST":
        checked, broken = audit_verify()
        result = {"checked": checked, "broken": broken}
    return render(request, "web/audit_verify.html", {"result": result})
