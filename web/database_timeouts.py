"""A web request waits on the database for a bounded time: a statement or a lock that takes
longer is cancelled by PostgreSQL (statement_timeout, lock_timeout), and the request answers a
fast, clear 503 instead of hanging until the proxy gives up. Probes get the shortest bounds, so
a locked table never holds up /healthz. Workers and commands set none: their work is not bounded
by a person waiting."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

PROBE_PATHS = frozenset({"/healthz", "/metrics"})
# PostgreSQL's lock_not_available and query_canceled (what both timeouts raise).
TIMED_OUT = frozenset({"55P03", "57014"})


class DatabaseTimeoutsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if connection.vendor != "postgresql":
            return self.get_response(request)
        _timeouts_set(probe=request.path.rstrip("/") in PROBE_PATHS)
        try:
            return self.get_response(request)
        finally:
            # The connection outlives the request (CONN_MAX_AGE): the bounds are the request's.
            _timeouts_set(statement=0, lock=0)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_timed_out(exception):
            return None
        message = (
            "The database is busy: a statement or a lock took longer than this request may "
            "wait. Nothing more was done; try again in a moment."
        )
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"error": message}, status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = "5"
        return response


def database_timed_out(error: BaseException) -> bool:
    cause = error.__cause__
    return isinstance(error, OperationalError) and getattr(cause, "sqlstate", None) in TIMED_OUT


def _timeouts_set(*, probe: bool = False, statement: int | None = None, lock: int | None = None):
    """Set both bounds, in milliseconds (0: none): the probes', the web's, or the ones given."""
    if statement is None or lock is None:
        if probe:
            statement, lock = settings.PROBE_STATEMENT_TIMEOUT_MS, settings.PROBE_LOCK_TIMEOUT_MS
        else:
            statement, lock = settings.WEB_STATEMENT_TIMEOUT_MS, settings.WEB_LOCK_TIMEOUT_MS
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, false), "
                "set_config('lock_timeout', %s, false)",
                [f"{statement}ms", f"{lock}ms"],
            )
    except DatabaseError:
        pass  # the database is down: the view, or /healthz, says so
