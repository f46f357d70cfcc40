"""Who may see and do what in the web admin: the request's access (the rules themselves are the
engine's, `onboarding.access`), and the pages that refuse.

Platform admins (the directory's admin group, or a local superuser) see and do everything. A team
lead (named on the Team, or a member manager of its FreeIPA group) sees and acts on their teams'
people and runs only; for anything else they get a 404, as if it did not exist. Everyone else who
logs in gets the "no access" page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject

from onboarding.access import NO_ACCESS, Access, user_access
from onboarding.audit import audit_record
from web.auth import MANAGED_GROUPS_SESSION_KEY


def access_for(request: HttpRequest) -> Access:
    """The request's access, worked out once per request."""
    cached = getattr(request, "_access", None)
    if cached is not None:
        return cached
    user = request.user
    if not user.is_authenticated or not user.is_active:
        access = NO_ACCESS
    else:
        access = user_access(user, managed=request.session.get(MANAGED_GROUPS_SESSION_KEY, []))
    request._access = access
    return access


def access_context(request: HttpRequest) -> dict:
    return {"access": SimpleLazyObject(lambda: access_for(request))}


def denial_record(request: HttpRequest, reason: str) -> None:
    audit_record(
        actor=request.user.get_username() if request.user.is_authenticated else "anonymous",
        action="access.denied",
        target=request.path[:255],
        outcome="denied",
        details={"method": request.method, "reason": reason},
    )


def no_access(request: HttpRequest, reason: str, message: str) -> HttpResponse:
    """The "no access" page, 403, with the refusal audited."""
    denial_record(request, reason)
    return render(request, "no_access.html", {"message": message}, status=403)


def staff_required(view: Callable) -> Callable:
    """Logged in, and a platform admin or the lead of at least one team."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not access_for(request).has_access:
            return no_access(
                request,
                "no role",
                "Your account is neither a platform admin nor the lead of a team. Ask a platform "
                "admin to add you to a team's leads if you need access.",
            )
        return view(request, *args, **kwargs)

    return wrapped


def admin_required(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        access = access_for(request)
        if not access.is_admin:
            message = "Only platform admins can use this page."
            if not access.has_access:
                message = (
                    "Your account is neither a platform admin nor the lead of a team. Ask a "
                    "platform admin for access if you need it."
                )
            return no_access(request, "admins only", message)
        return view(request, *args, **kwargs)

    return wrapped


def visible_or_404(request: HttpRequest, queryset: QuerySet, **lookup):
    """The object if this person may see it; otherwise 404, the same as for a missing one."""
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        if queryset.model._default_manager.filter(**lookup).exists():
            denial_record(request, "outside their teams")
        raise Http404("No such page, or not one of your teams'.") from None
