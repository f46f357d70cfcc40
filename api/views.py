"""The endpoints of /api/v1/. Each finds what the token may see, then reads through selectors or
acts through services; refusals are JSON `{"error": ...}` with the web UI's words.

Lifecycle requests are audited by the services with the token as the actor (`api:<name>`);
refusals of an authenticated token as `access.denied`. Reads are not audited, as in the web UI.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Header, NinjaAPI, Query, Status
from ninja.errors import HttpError, ValidationError

from api.auth import BearerToken, denial_record, token_access
from api.schemas import (
    AuditPage,
    CredentialReset,
    Error,
    Move,
    Offboarding,
    Onboarding,
    OnboardingAccepted,
    PeoplePage,
    PersonDates,
    PersonDetail,
    PersonOut,
    Reinstatement,
    RunAccepted,
    RunOut,
    TeamOut,
)
from api.services import idempotent_answer, request_fingerprint
from onboarding import selectors, services
from onboarding.access import (
    Access,
    onboard_takeover_refuse,
    person_is_privileged,
    refusal_for,
    rights_now_refusal,
)
from onboarding.errors import (
    AccessAdminError,
    DownstreamError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotVisible,
    PersonAlreadyKnown,
    RunInProgress,
    TokenRefused,
    TooManyRequests,
)
from onboarding.live_state import person_systems_state_within
from onboarding.models import LifecycleRun, Person, Team
from onboarding.team_settings import team_setting, team_settings_all
from onboarding.validation import username_fold


class AccessAdminApi(NinjaAPI):
    def create_response(self, request: HttpRequest, data, *args, **kwargs) -> HttpResponse:
        response = super().create_response(request, data, *args, **kwargs)
        response["Cache-Control"] = "no-store"  # people's details, for the caller only
        return response


api = AccessAdminApi(
    title="AccessAdmin",
    version="1",
    description="Onboard, offboard, move and reinstate people across the platform's systems.",
    auth=BearerToken(),
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url=None,  # the docs page loads scripts from a CDN, which the CSP forbids
)

ERRORS = {code: Error for code in (400, 401, 403, 404, 409, 422, 429)}
PAGE_SIZE_MAX = 200
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key")]


# Errors ---------------------------------------------------------------------------------------


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return api.create_response(request, {"error": message}, status=status)


@api.exception_handler(TokenRefused)
def _token_refused(request: HttpRequest, error: TokenRefused) -> HttpResponse:
    response = _error(request, str(error), 401)
    response["WWW-Authenticate"] = 'Bearer realm="accessadmin"'
    return response


@api.exception_handler(NotVisible)
def _missing(request: HttpRequest, error: NotVisible) -> HttpResponse:
    return _error(request, str(error), 404)


@api.exception_handler(Forbidden)
def _forbidden(request: HttpRequest, error: Forbidden) -> HttpResponse:
    return _error(request, str(error), 403)


@api.exception_handler(IdempotencyKeyReused)
def _key_reused(request: HttpRequest, error: IdempotencyKeyReused) -> HttpResponse:
    return _error(request, str(error), 422)


@api.exception_handler(PersonAlreadyKnown)
def _already_known(request: HttpRequest, error: PersonAlreadyKnown) -> HttpResponse:
    return _error(request, refusal_for(_access(request), error), 409)


@api.exception_handler(InvalidInput)
def _invalid(request: HttpRequest, error: InvalidInput) -> HttpResponse:
    return _error(request, str(error), 400)


@api.exception_handler(RunInProgress)
def _busy(request: HttpRequest, error: RunInProgress) -> HttpResponse:
    return _error(request, str(error), 409)


@api.exception_handler(TooManyRequests)
def _limited(request: HttpRequest, error: TooManyRequests) -> HttpResponse:
    response = _error(request, str(error), 429)
    response["Retry-After"] = str(error.retry_after)
    return response


@api.exception_handler(AccessAdminError)
def _refused(request: HttpRequest, error: AccessAdminError) -> HttpResponse:
    return _error(request, str(error), 502 if isinstance(error, DownstreamError) else 400)


@api.exception_handler(ValidationError)
def _malformed(request: HttpRequest, error: ValidationError) -> HttpResponse:
    def where(location: list) -> str:
        # ["body", "body", "email"] or ["query", "page"]: the field is what a caller sent.
        return ".".join(str(part) for part in location[-1:])

    problems = "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in error.errors)
    return _error(request, f"The request is not valid: {problems}.", 400)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    return _error(request, str(error), error.status_code)


# What the token may see -----------------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    if getattr(request, "_access", None) is None:
        request._access = token_access(request.auth)
    return request._access


def _visible(request: HttpRequest, queryset: QuerySet, message: str, **lookup):
    """The object if the token may see it; otherwise NotVisible, the same as for none at all."""
    found = queryset.filter(**lookup).first()
    if found is None:
        if queryset.model._default_manager.filter(**lookup).exists():
            denial_record(request, "outside its team")
        raise NotVisible(message)
    return found


def _person(request: HttpRequest, username: str) -> Person:
    people = _access(request).people().select_related("team")
    message = f"AccessAdmin knows no person {username!r}."
    return _visible(request, people, message, username=username_fold(username))


def _run(request: HttpRequest, run_id: int) -> LifecycleRun:
    runs = _access(request).runs().select_related("person__team")
    return _visible(request, runs, f"There is no run #{run_id}.", pk=run_id)


def _team_named(request: HttpRequest, name: str) -> Team:
    """A team named in a request's body: one the token may see, or bad input."""
    teams = _access(request).teams()
    team = teams.filter(name=name).first()
    if team is None:
        if Team.objects.filter(name=name).exists():
            denial_record(request, "team outside its own")
        known = ", ".join(teams.values_list("name", flat=True)) or "none yet"
        raise InvalidInput(f"There is no team {name!r} (teams: {known}).")
    return team


def _may_act_on(
    request: HttpRequest, person: Person, doing: str = "offboard, move or reinstate them"
) -> None:
    if not _access(request).may_act_on(person):
        denial_record(request, "the person is a platform admin or a team lead")
        raise Forbidden(
            f"{person.username} is a platform admin or a team lead: only a platform admin can "
            f"{doing}."
        )


def _admins_only(request: HttpRequest, message: str) -> None:
    if not _access(request).is_admin:
        denial_record(request, "admins only")
        raise Forbidden(message)


# Lifecycle requests ---------------------------------------------------------------------------


def _accepted(run: LifecycleRun) -> dict:
    return {
        "id": run.pk, "state": run.state, "kind": run.kind, "person": run.person.username,
        "url": reverse("api-v1:run_show", kwargs={"run_id": run.pk}),
    }  # fmt: skip


def _start(request: HttpRequest, key: str, body, start) -> Status:
    """202 and the run `start()` made; with an Idempotency-Key, the first answer to it."""
    return _answer_once(request, key, body, lambda: _accepted(start()))


def _answer_once(request: HttpRequest, key: str, body, accepted) -> Status:
    """202 and `accepted()`'s body; with an Idempotency-Key, the first answer to it."""
    status, answer = idempotent_answer(
        token=request.auth, key=key.strip(),
        fingerprint=request_fingerprint(request.path, body.model_dump(mode="json")),
        answer=lambda: (202, accepted()),
    )  # fmt: skip
    return Status(status, answer)


def _dates_out(person: Person) -> dict:
    # Kept as the idempotent answer, a JSON document: dates as text.
    return {
        "start_date": person.start_date and str(person.start_date),
        "end_date": person.end_date and str(person.end_date),
        "waits_for_start": person.waits_for_start,
    }


WAITING = "waiting"


@api.post("/onboardings", response={202: OnboardingAccepted, **ERRORS}, tags=["lifecycle"])
def onboarding_create(request: HttpRequest, body: Onboarding, idempotency_key: IdempotencyKey = ""):
    """Onboard a person into a team: the fields of a bulk-onboarding CSV's row. With a start
    date still to come, the person is recorded as waiting for it: 202 with `state` "waiting",
    `id` null and the person's `url`; their onboarding run starts on that day."""
    team = _team_named(request, body.team)
    username = username_fold(body.username)
    onboard_takeover_refuse(_access(request), username)

    hand_over_to = _hand_over_to(body.hand_over_to, team)

    def accepted() -> dict:
        run = services.person_onboard(
            username=body.username, first_name=body.first_name, last_name=body.last_name,
            email=body.email, team=team, actor=request.auth.actor, requested_by=hand_over_to,
            start_date=body.start_date, end_date=body.end_date,
        )  # fmt: skip
        if run is not None:
            return {**_accepted(run), **_dates_out(run.person)}
        person = Person.objects.get(username=username)
        return {
            "id": None, "state": WAITING, "kind": LifecycleRun.Kind.ONBOARD,
            "person": person.username, **_dates_out(person),
            "url": reverse("api-v1:person_show", kwargs={"username": person.username}),
        }  # fmt: skip

    return _answer_once(request, idempotency_key, body, accepted)


@api.post("/offboardings", response={202: RunAccepted, **ERRORS}, tags=["lifecycle"])
def offboarding_create(
    request: HttpRequest, body: Offboarding, idempotency_key: IdempotencyKey = ""
):
    person = _person(request, body.username)
    _may_act_on(request, person)
    return _start(
        request, idempotency_key, body,
        lambda: services.person_offboard(
            person=person, reason=body.reason, actor=request.auth.actor
        ),
    )  # fmt: skip


@api.post("/moves", response={202: RunAccepted, **ERRORS}, tags=["lifecycle"])
def move_create(request: HttpRequest, body: Move, idempotency_key: IdempotencyKey = ""):
    person = _person(request, body.username)
    _may_act_on(request, person)
    team = _team_named(request, body.team)
    return _start(
        request, idempotency_key, body,
        lambda: services.person_move(person=person, team=team, actor=request.auth.actor),
    )  # fmt: skip


@api.post("/reinstatements", response={202: RunAccepted, **ERRORS}, tags=["lifecycle"])
def reinstatement_create(
    request: HttpRequest, body: Reinstatement, idempotency_key: IdempotencyKey = ""
):
    person = _person(request, body.username)
    _may_act_on(request, person)
    team = _team_named(request, body.team) if body.team else None
    hand_over_to = _hand_over_to(body.hand_over_to, team or person.team, person)
    return _start(
        request, idempotency_key, body,
        lambda: services.person_reinstate(
            person=person, reason=body.reason, team=team, actor=request.auth.actor,
            requested_by=hand_over_to,
        ),
    )  # fmt: skip


@api.post("/credential-resets", response={202: RunAccepted, **ERRORS}, tags=["lifecycle"])
def credential_reset_create(
    request: HttpRequest, body: CredentialReset, idempotency_key: IdempotencyKey = ""
):
    """Delete an active person's OTP tokens and issue a new token and an expired temporary
    password, as the web UI's reset does. The new secrets are not in the API: they are revealed
    once in the web UI, and only to whoever asked there."""
    person = _person(request, body.username)
    _may_act_on(request, person, "reset their password and OTP token")
    hand_over_to = _hand_over_to(body.hand_over_to, person.team, person)
    return _start(
        request, idempotency_key, body,
        lambda: services.person_credentials_reset(
            person=person, actor=request.auth.actor, requested_by=hand_over_to
        ),
    )  # fmt: skip


def _hand_over_to(username: str | None, team: Team, person: Person | None = None):
    """The user named to hand the run's credentials over: one who may act on the team now and,
    for someone already known, on that very person (a lead never gets an admin's secrets)."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        refusal = "there is no such user"
    elif not user.is_active:
        refusal = f"{username}'s account is not active"
    else:
        refusal = rights_now_refusal(username, team=team)
    if refusal:
        raise InvalidInput(
            f"hand_over_to: {username!r} is not an AccessAdmin user who may act on team "
            f"{team.name} (a platform admin, or one of its leads): {refusal}. Nothing changed."
        )
    privileged = person is not None and person_is_privileged(person.username)
    if privileged and rights_now_refusal(username, team=None):
        raise InvalidInput(
            f"hand_over_to: {username!r} may not receive {person.username}'s credentials: "
            f"{person.username} is a platform admin, a team lead or an administrator in "
            "FreeIPA, whom only a platform admin may act on."
        )
    return user


# Runs -----------------------------------------------------------------------------------------


def _run_out(run: LifecycleRun) -> dict:
    return {
        "id": run.pk, "kind": run.kind, "state": run.state, "actor": run.actor,
        "created_at": run.created_at, "started_at": run.started_at,
        "finished_at": run.finished_at, "person": run.person.username,
        "team": run.person.team.name, "params": run.params, "error": run.error,
        "steps": selectors.run_steps(run),
    }  # fmt: skip


@api.get("/runs/{run_id}", response={200: RunOut, **ERRORS}, url_name="run_show", tags=["runs"])
def run_show(request: HttpRequest, run_id: int):
    """A run's state and its steps'; poll it until the state is succeeded or failed."""
    return _run_out(_run(request, run_id))


ADMINS_RESUME = "Only platform admins can resume, roll back or requeue a run."


@api.post("/runs/{run_id}/resume", response={202: RunAccepted, **ERRORS}, tags=["runs"])
def run_resume(request: HttpRequest, run_id: int):
    """Queue a failed run again, from the step that failed."""
    run = _run(request, run_id)
    _admins_only(request, ADMINS_RESUME)
    return Status(202, _accepted(services.run_resume(run=run, actor=request.auth.actor)))


@api.post("/runs/{run_id}/rollback", response={202: RunAccepted, **ERRORS}, tags=["runs"])
def run_rollback(request: HttpRequest, run_id: int):
    """Undo a failed run's completed steps, newest first."""
    run = _run(request, run_id)
    _admins_only(request, ADMINS_RESUME)
    return Status(202, _accepted(services.run_rollback(run=run, actor=request.auth.actor)))


# People ---------------------------------------------------------------------------------------


def _person_out(person: Person) -> dict:
    return {
        "username": person.username, "first_name": person.first_name,
        "last_name": person.last_name, "email": person.email, "team": person.team.name,
        "status": person.status, "start_date": person.start_date,
        "waits_for_start": person.waits_for_start, "end_date": person.end_date,
        "created_at": person.created_at, "updated_at": person.updated_at,
    }  # fmt: skip


@api.get("/people", response={200: PeoplePage, **ERRORS}, tags=["people"])
def people_list(
    request: HttpRequest,
    team: str = "",
    status: str = "",
    q: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 50,
):
    """The people the token may see, by username; `q` looks in names and email addresses."""
    if status and status not in Person.Status.values:
        raise InvalidInput(f"There is no status {status!r} ({', '.join(Person.Status.values)}).")
    people = selectors.people_search(
        _access(request).people(), text=q.strip(), team=team, status=status
    )
    count = people.count()
    start = (page - 1) * page_size
    return {
        "items": [_person_out(person) for person in people[start : start + page_size]],
        "page": page,
        "pages": math.ceil(count / page_size),
        "count": count,
    }


@api.get(
    "/people/{username}",
    response={200: PersonDetail, **ERRORS},
    url_name="person_show",
    tags=["people"],
)
def person_show(request: HttpRequest, username: str, live: bool = False):
    """A person and their runs, newest first; with `live=1`, also what each system holds for
    them now (a system slower than LIVE_STATE_TIMEOUT_SECONDS is shown as not answering)."""
    person = _person(request, username)
    detail = {**_person_out(person), "runs": selectors.person_runs(person)}
    if live:
        states = person_systems_state_within(person, timeout=settings.LIVE_STATE_TIMEOUT_SECONDS)
        detail["systems"] = [vars(state) for state in states]
    return detail


@api.patch("/people/{username}", response={200: PersonOut, **ERRORS}, tags=["people"])
def person_dates_update(request: HttpRequest, username: str, body: PersonDates):
    """Set or clear (null) a person's start and end dates; fields not sent stay. They are
    offboarded once their end date comes, which may not be in the past. A start date changes
    only while they wait for it."""
    person = _person(request, username)
    _may_act_on(request, person, "change their dates")
    dates = body.model_dump(exclude_unset=True)
    if not dates:
        raise InvalidInput("Send start_date, end_date or both; nothing was changed.")
    person = services.person_dates_set(person=person, actor=request.auth.actor, **dates)
    person.refresh_from_db()
    return _person_out(person)


# Teams ----------------------------------------------------------------------------------------


def _teams(request: HttpRequest) -> QuerySet[Team]:
    current = ~Q(members__status=Person.Status.OFFBOARDED)
    return (
        _access(request)
        .teams()
        .prefetch_related("leads")
        .annotate(members_current=Count("members", filter=current))
    )


def _hub_group(team: Team) -> str:
    try:
        return team_setting(team, "jupyterhub", "group")
    except KeyError:  # JupyterHub is not enabled and the team never had a hub group
        return ""


def _team_out(team: Team) -> dict:
    return {
        "name": team.name, "freeipa_group": team.freeipa_group,
        "iam_policy_arns": team.iam_policy_arns, "system_settings": team_settings_all(team),
        # Still answered under its old name, for clients written before it moved.
        "jupyterhub_group": _hub_group(team),
        "leads": sorted(lead.get_username() for lead in team.leads.all()),
        "members": team.members_current,
    }  # fmt: skip


@api.get("/teams", response={200: list[TeamOut], **ERRORS}, tags=["teams"])
def team_list(request: HttpRequest):
    """The teams the token may see; `members` counts those not offboarded."""
    return [_team_out(team) for team in _teams(request)]


@api.get("/teams/{name}", response={200: TeamOut, **ERRORS}, tags=["teams"])
def team_show(request: HttpRequest, name: str):
    return _team_out(_visible(request, _teams(request), f"There is no team {name!r}.", name=name))


# Audit ----------------------------------------------------------------------------------------


@api.get("/audit-events", response={200: AuditPage, **ERRORS}, tags=["audit"])
def audit_event_list(
    request: HttpRequest,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: date | None = None,
    until: date | None = None,
    before: int | None = None,
    page_size: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 50,
):
    """The audit trail, newest first, for admin tokens. To read on, pass the answer's
    `next_before` as `before`; it is null on the last page."""
    _admins_only(request, "Only platform admins can read the audit trail.")
    where = selectors.AuditFilter(
        actor=actor, action=action, person=target, since=since, until=until
    )
    events, next_before = selectors.audit_page(where, before=before, size=page_size)
    return {
        "items": [
            {
                "id": event.id, "at": event.at, "actor": event.actor, "action": event.action,
                "target": event.target, "outcome": event.outcome, "run": event.run_id,
                "details": event.details,
            }
            for event in events
        ],
        "next_before": next_before,
    }  # fmt: skip
