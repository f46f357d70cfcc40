"""Failed logins lock out per (username, address) pair, as django-axes counts them, and also
per username across every address (one account guessed from many machines) and per address
across every username (one password sprayed over many accounts), each at its own limit."""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum


class LockoutHandler(AxesDatabaseHandler):
    def is_locked(self, request, credentials: dict | None = None) -> bool:
        if super().is_locked(request, credentials):
            return True
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        username = get_client_username(request, credentials)
        address = getattr(request, "axes_ip_address", None)
        return _over(
            recent.filter(username=username), settings.LOGIN_FAILURE_LIMIT_PER_USERNAME
        ) or _over(recent.filter(ip_address=address), settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS)


def _over(attempts, limit: int) -> bool:
    if not limit:
        return False
    failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
    return failures >= limit
