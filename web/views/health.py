"""`/healthz`: whether the service and its engine are sound, for probes and on-call."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from kombu import Connection

from onboarding import health, selectors
from onboarding.broker import broker_persistence
from web.metrics import bearer_matches
from web.permissions import access_for


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
