"""Onboarding many people from a CSV file, and handing over their credentials from one page."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from onboarding import services
from onboarding.credentials import credentials_reveal
from onboarding.enrolment.service import enrolment_applies
from onboarding.errors import AccessAdminError, CredentialsGone, FileRefused
from onboarding.models import LifecycleRun
from onboarding.services.bulk import (
    csv_annotated,
    csv_template,
    csv_text_decode,
    csv_text_normalise,
)
from web.forms import OnboardCsvForm
from web.permissions import access_for, denial_record, staff_required
from web.plan_words import changes_in_words
from web.previews import MAX_AGE_SECONDS, NOT_PREVIEWED, preview_token
from web.views.common import RUN_ID, USER_ERRORS, actor_name, previewed
from web.views.runs import handover_context, handover_links

# The file last uploaded for a preview, in the uploader's own session: a GET shows its preview.
UPLOADED_SESSION_KEY = "bulk_csv_uploaded"
GONE = (
    "That preview has ended (it was confirmed, is more than 15 minutes old, or was made in "
    "another sign-in): upload the file again to see it. Nothing was created."
)


def _uploaded_keep(request: HttpRequest, text: str) -> str:
    """Keep the file's text for its preview page; one file a session, so the newest wins."""
    key = secrets.token_urlsafe(12)
    request.session[UPLOADED_SESSION_KEY] = {"key": key, "text": text, "at": int(time.time())}
    return key


def _uploaded(request: HttpRequest, key: str) -> str | None:
    kept = request.session.get(UPLOADED_SESSION_KEY)
    if not kept or not secrets.compare_digest(str(kept.get("key", "")), key):
        return None
    if time.time() - kept.get("at", 0) > MAX_AGE_SECONDS:
        request.session.pop(UPLOADED_SESSION_KEY, None)
        return None
    return kept["text"]


@staff_required
def people_onboard_csv(request: HttpRequest) -> HttpResponse:
    """Upload a CSV file, see every row's preview, then start every run (or none). The upload
    is answered with a redirect to a GET showing the preview, so Back never sends it again."""
    access = access_for(request)
    allowed = None if access.is_admin else access.teams()
    form = OnboardCsvForm(request.POST or None, request.FILES or None)
    context: dict = {"form": form, "problems": [], "rows": None, "max_rows": settings.BULK_MAX_ROWS}
    try:
        if request.POST.get("action") == "onboard":
            text = csv_text_normalise(request.POST.get("csv_text", ""))
            if not previewed(request, "onboard_csv", {"text": text}):
                raise AccessAdminError(NOT_PREVIEWED)
            onboarded = services.people_onboard_csv(
                text=text,
                actor=actor_name(request),
                allowed_teams=allowed,
                requested_by=request.user,
            )
            request.session.pop(UPLOADED_SESSION_KEY, None)
            messages.success(request, _bulk_onboarded_words(onboarded))
            query = "runs=" + ",".join(str(run.pk) for run in onboarded.runs)
            if onboarded.waiting:
                query += "&" + urlencode(
                    {"waiting": ",".join(person.username for person in onboarded.waiting)}, safe=","
                )
            return redirect(f"{reverse('runs_bulk')}?{query}")
        if request.method == "POST" and form.is_valid():
            key = _uploaded_keep(request, csv_text_decode(form.cleaned_data["file"].read()))
            return redirect(f"{reverse('onboard_csv')}?preview={key}")
        if request.method == "GET" and "preview" in request.GET:
            text = _uploaded(request, request.GET["preview"])
            if text is None:
                context["page_error"] = GONE
            else:
                context["refused_text"] = text  # for the copy with its problems, if refused
                context.update(_previewed(text, allowed))
    except FileRefused as error:
        context["problems"] = error.problems
    except USER_ERRORS as error:
        if form.is_bound:
            form.add_error(None, str(error))
        else:  # the preview's GET: no form was sent to put the error on
            context["page_error"] = str(error)
    response = render(request, "web/onboard_csv.html", context)
    response["Cache-Control"] = "no-store"  # people's names and addresses
    return response


def _previewed(text: str, allowed) -> dict:
    """The preview of every row of the file, or FileRefused with every problem of it."""
    previews = services.people_onboard_csv_preview(text=text, allowed_teams=allowed)
    rows = [
        (row, changes_in_words(changes, person=services.bulk_row_person(row), team=row.team))
        for row, changes in previews
    ]
    return {
        "rows": rows, "csv_text": text,
        "preview_token": preview_token("onboard_csv", {"text": text}),
        "waiting_count": sum(row.waits for row, _ in previews),
    }  # fmt: skip


@staff_required
def people_onboard_csv_template(request: HttpRequest) -> HttpResponse:
    """A file to fill in, with an example row for the first team this person may onboard into."""
    team = access_for(request).teams().values_list("name", flat=True).first() or "your-team"
    return _csv_download(csv_template(team), "onboard-template.csv")


@require_POST
@staff_required
def people_onboard_csv_annotated(request: HttpRequest) -> HttpResponse:
    """The file just refused, checked again, with what is wrong written beside each row."""
    access = access_for(request)
    text = csv_text_normalise(request.POST.get("csv_text", ""))
    try:
        services.people_onboard_csv_check(
            text=text, allowed_teams=None if access.is_admin else access.teams()
        )
        problems: list[str] = []
    except FileRefused as error:
        problems = error.problems
    return _csv_download(csv_annotated(text, problems), "onboard-problems.csv")


def _csv_download(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # people's names and addresses
    return response


def _bulk_onboarded_words(onboarded: services.BulkOnboarded) -> str:
    count = len(onboarded.runs)
    said = [f"{count} onboarding{' is' if count == 1 else 's are'} queued."]
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
    context: dict = {"sheets": [], "refused": [], "problem": "", **handover_links()}
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
        elif enrolment_applies(run):
            refused.append((run_id, run, f"{run.person.username} sets up their own login by "
                            "the link e-mailed to them; nobody else sees it"))  # fmt: skip
        elif not access.may_reveal_credentials(run):
            requester = run.requested_by.get_username() if run.requested_by else run.actor
            refused.append((run_id, run, f"only {requester}, who asked for it, can reveal its "
                            "credentials"))  # fmt: skip
            not_requester = True
        else:
            try:
                revealed = credentials_reveal(run=run, actor=actor_name(request))
                sheets.append(handover_context(run, revealed, prefix=f"run-{run.pk}-"))
            except CredentialsGone as error:
                refused.append((run_id, run, str(error)))
    hidden = [run_id for run_id in ids if run_id not in runs]
    if hidden and LifecycleRun.objects.filter(pk__in=hidden).exists():
        denial_record(request, "runs outside their teams")
    if not_requester:
        denial_record(request, "not the requester")
    return {"sheets": sheets, "refused": refused}
