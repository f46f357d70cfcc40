"""The dashboard, the people list and a person's page, with what each system holds for them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from onboarding import selectors, services
from onboarding.live_state import answer_within, person_systems_state_within
from onboarding.models import Person
from onboarding.preflight import preflight_run
from onboarding.systems import enabled
from web.audit_display import entries
from web.forms import PeopleFilterForm, PersonUpdateForm
from web.permissions import access_for, admin_required, staff_required
from web.reviews import reviews_waiting
from web.views.common import PAGE_SIZE, USER_ERRORS, actor_name, person_visible, privileged_refuse

PREFLIGHT_CACHE_KEY = "web:preflight"


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


@staff_required
def person_detail(request: HttpRequest, username: str) -> HttpResponse:
    access = access_for(request)
    person = person_visible(request, username)
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
    person = person_visible(request, username)
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
    person = person_visible(request, username)
    refused = privileged_refuse(request, person)
    if refused:
        return refused
    form = _update_form(person, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.person_update(person=person, **form.cleaned_data, actor=actor_name(request))
            messages.success(
                request, f"{person.username} is now {person.full_name} <{person.email}>."
            )
            return redirect("person_detail", username=person.username)
        except USER_ERRORS as error:
            form.add_error(None, str(error))
    context = {"person": person, "form": form, "may_update": _may_update(person)}
    return render(request, "web/person_update.html", context)
