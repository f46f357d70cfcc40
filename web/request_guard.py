"""What no view should ever have to read: a body larger than any page or API call takes is
refused from its Content-Length before a byte of it is read or spooled, and a NUL character in
the path or the query string (PostgreSQL cannot store or compare one) is a clear 400, not a 500.
NUL in a form is refused by Django's forms, in an API body by the API's request schemas."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

API_PREFIX = "/api/"


class RequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem, status = request_problem(request)
        if problem:
            return _refusal(request, problem, status)
        return self.get_response(request)


def request_problem(request: HttpRequest) -> tuple[str, int]:
    """What is wrong with the request before any of its body is read, and the status to say it
    with; ("", 200) when nothing is."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "The Content-Length header is not a number.", 400
    if length > settings.REQUEST_MAX_BYTES:
        limit = settings.REQUEST_MAX_BYTES
        return (
            f"The request is {length} bytes; at most {limit} (REQUEST_MAX_BYTES) are read.",
            413,
        )
    if "\x00" in request.path:
        return "The address holds a NUL character.", 400
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return f"The query parameter {name.replace(chr(0), '')!r} holds a NUL character.", 400
    return "", 200


def _refusal(request: HttpRequest, problem: str, status: int) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"error": problem}, status=status)
    response = HttpResponse(problem, status=status, content_type="text/plain; charset=utf-8")
    # The client may still be sending the body: tell it not to go on with this connection.
    response["Connection"] = "close"
    return response
