"""Rights are the directory's, now: every request of a directory login re-reads them (at most
RIGHTS_CACHE_SECONDS old), so a removed admin, a lead no longer managing their group, a disabled
account or a leaver loses access on their next request, not when their session expires."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, logout
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.cache import patch_cache_control

from onboarding.access import LEAVING
from onboarding.directory import rights_find
from onboarding.errors import DirectoryUnavailable
from onboarding.models import Person
from web.auth import MANAGED_GROUPS_SESSION_KEY
from web.permissions import denial_record

DIRECTORY_BACKEND = "web.auth.DirectoryBackend"
CHECKED_AT_SESSION_KEY = "directory_rights_checked_at"


class DirectoryRightsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self._refused(request) if request.user.is_authenticated else None
        response = refused or self.get_response(request)
        if request.user.is_authenticated:
            # What a staff page shows is for them only: no shared or back-button cache.
            patch_cache_control(response, no_store=True)
        return response

    def _refused(self, request: HttpRequest) -> HttpResponse | None:
        if request.session.get(BACKEND_SESSION_KEY) != DIRECTORY_BACKEND:
            return None  # a local account (break-glass): the directory has no say
        username = request.user.get_username()
        if Person.objects.filter(username=username, status__in=LEAVING).exists():
            return self._ended(request, "offboarded")
        checked_at = request.session.get(CHECKED_AT_SESSION_KEY, 0)
        if time.time() - checked_at < settings.RIGHTS_CACHE_SECONDS:
            return None
        try:
            rights = rights_find(username)
        except DirectoryUnavailable as error:
            denial_record(request, str(error))
            return render(
                request, "no_access.html",
                {"message": "The directory cannot be reached to confirm your rights. Try again "
                 "in a minute; a platform admin can use the local break-glass account."},
                status=503,
            )  # fmt: skip
        if not rights.exists or rights.disabled:
            return self._ended(request, "disabled or removed in the directory")
        admins, _ = Group.objects.get_or_create(name=settings.LDAP_ADMIN_GROUP)
        if rights.is_admin:
            request.user.groups.add(admins)
        else:
            request.user.groups.remove(admins)
        request.session[MANAGED_GROUPS_SESSION_KEY] = list(rights.managed_groups)
        request.session[CHECKED_AT_SESSION_KEY] = time.time()
        request._access = None
        return None

    def _ended(self, request: HttpRequest, reason: str) -> HttpResponse:
        denial_record(request, f"session ended: {reason}")
        logout(request)
        return redirect(f"{resolve_url(settings.LOGIN_URL)}?ended=1")
