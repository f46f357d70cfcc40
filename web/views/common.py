"""What every page shares: who acts, the errors a person is told, and the one path of every
preview-gated action."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect

from onboarding.errors import AccessAdminError
from onboarding.models import LifecycleRun, Person
from web.permissions import access_for, no_access, visible_or_404
from web.previews import NOT_PREVIEWED, preview_matches, preview_token

# What a person can be told and fix: bad input, a run in the way, or a system refusing.
USER_ERRORS = (AccessAdminError,)
PAGE_SIZE = 50
RUN_ID = re.compile(r"[0-9]{1,18}")


def actor_name(request: HttpRequest) -> str:
    return request.user.get_username()


def broker_warning(request: HttpRequest, run: LifecycleRun) -> None:
    if run.dispatched is False:
        messages.warning(
            request,
            f"The task queue is unreachable: run #{run.pk} is saved and starts by itself when "
            "the queue is back.",
        )


def person_visible(request: HttpRequest, username: str) -> Person:
    people = access_for(request).people().select_related("team")
    return visible_or_404(request, people, username=username)


def previewed(request: HttpRequest, kind: str, shown: dict[str, str]) -> bool:
    return preview_matches(request.POST.get("preview_token", ""), kind, shown)


def privileged_refuse(request: HttpRequest, person: Person) -> HttpResponse | None:
    """A team lead acts on the ordinary members of their teams; admins and leads are for
    platform admins to act on."""
    if access_for(request).may_act_on(person):
        return None
    return no_access(
        request, "the person is a platform admin or a team lead",
        f"{person.username} is a platform admin or a team lead: only a platform admin can "
        "change, offboard, move or reinstate them.",
    )  # fmt: skip


def admins_only(request: HttpRequest) -> HttpResponse:
    return no_access(
        request, "admins only", "Only platform admins can resume, roll back or requeue a run."
    )


# The form a preview was asked with, per page, so the preview can be shown by a GET.
PREVIEWED_SESSION_KEY = "previewed_forms"
# The hidden fields of a form that are not what was asked.
_NOT_ASKED = ("csrfmiddlewaretoken", "preview_token")


def submitted(request: HttpRequest) -> QueryDict | None:
    """What a preview-gated form sent: the POST, or, on the GET its preview was redirected to,
    that POST again; None for a blank form."""
    if request.method == "POST":
        return request.POST
    stored = request.session.get(PREVIEWED_SESSION_KEY, {}).get(request.path)
    if stored and request.GET.get("preview") == stored["key"]:
        return QueryDict(stored["data"])
    return None


def preview_shown_by_get(request: HttpRequest) -> HttpResponse:
    """Post/redirect/get: the preview is the answer to a GET, so the browser's Back and reload
    after the confirmation never ask to send the form again."""
    asked = request.POST.copy()
    for name in _NOT_ASKED:
        asked.pop(name, None)
    key = secrets.token_urlsafe(8)
    forms = request.session.get(PREVIEWED_SESSION_KEY, {})
    forms[request.path] = {"key": key, "data": asked.urlencode()}
    request.session[PREVIEWED_SESSION_KEY] = forms
    return redirect(f"{request.path}?preview={key}#preview")


@dataclass
class Gated:
    """What a preview-gated page shows next: the preview in words and a token for exactly what
    it previews, or, once committed, where to go."""

    preview: list
    token: str
    response: HttpResponse | None = None


def preview_then_commit(
    request: HttpRequest,
    *,
    kind: str,
    shown: dict[str, str],
    preview: Callable[[], list],
    commit: Callable[[], HttpResponse],
    refuse: Callable[[str | None, object], None],
    unconfirmed: Callable[[], str | None] = lambda: None,
) -> Gated:
    """The one path of every preview-gated action, always in this order: preview what is asked
    (its errors go to the caller), and when the POST asks to commit, commit only if its preview
    token is for exactly what is asked now and any typed confirmation holds. A refusal goes to
    `refuse(field, error)` and changes nothing; the preview is still shown beside it. A POST
    that asks for the preview is redirected at once to a GET that shows it (`submitted` gives
    the view the form again there)."""
    if request.method == "POST" and request.POST.get("action") != kind:
        return Gated(preview=[], token="", response=preview_shown_by_get(request))
    gated = Gated(preview=preview(), token=preview_token(kind, shown))
    if request.POST.get("action") != kind:
        return gated
    if not previewed(request, kind, shown):
        refuse(None, NOT_PREVIEWED)
    elif problem := unconfirmed():
        refuse("confirm_username", problem)
    else:
        try:
            gated.response = commit()
        except USER_ERRORS as error:
            refuse(None, error)
    return gated
