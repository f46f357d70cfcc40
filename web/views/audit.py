"""The audit trail: reading, exporting and verifying it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

from onboarding import selectors
from onboarding.audit import audit_record, audit_verify
from onboarding.exports import csv_cell
from web.audit_display import entries
from web.forms import AuditFilterForm
from web.permissions import admin_required
from web.views.common import PAGE_SIZE, actor_name


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    status = 400 if form.is_bound and not form.is_valid() else 200
    where = form.audit_filter()
    before = request.GET.get("before", "")
    events, next_before = selectors.audit_page(
        where, before=int(before) if before.isdigit() else None, size=PAGE_SIZE
    )
    query = request.GET.copy()
    query.pop("before", None)
    # Asked for step events by name, a reader wants them one by one.
    group_steps = "step" not in where.action_contains
    filtered = any(value for value in vars(where).values())
    context = {
        "form": form,
        "entries": entries(events, group_steps=group_steps),
        "group_steps": group_steps,
        "empty": "No events match these filters." if filtered else "Nothing has happened yet.",
        "next_before": next_before,
        "query": query.urlencode(),
        "actions": selectors.audit_actions(),
        "first_page": not before,
    }
    return render(request, "web/audit_log.html", context, status=status)


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin_required
def audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            f"Bad filter: {form.errors.as_text()}", status=400, content_type="text/plain"
        )
    where = form.audit_filter()
    _export_record(request, where, "csv")
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(["id", "at", "actor", "action", "target", "outcome", "run", "details",
                               "hash"])  # fmt: skip
        for event in selectors.audit_search(where).iterator(chunk_size=2000):
            yield writer.writerow([
                event.id, event.at.isoformat(), csv_cell(event.actor), csv_cell(event.action),
                csv_cell(event.target), event.outcome, event.run_id or "",
                csv_cell(json.dumps(event.details, sort_keys=True, default=str)), event.hash,
            ])  # fmt: skip

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


@admin_required
def audit_export_json(request: HttpRequest) -> HttpResponse:
    """The same events as the CSV, as a JSON array of objects with the details as written."""
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return JsonResponse({"error": f"Bad filter: {form.errors.as_text()}"}, status=400)
    where = form.audit_filter()
    _export_record(request, where, "json")

    def rows() -> Iterator[str]:
        yield "["
        for index, event in enumerate(selectors.audit_search(where).iterator(chunk_size=2000)):
            row = {
                "id": event.id, "at": event.at.isoformat(), "actor": event.actor,
                "action": event.action, "target": event.target, "outcome": event.outcome,
                "run": event.run_id, "details": event.details, "hash": event.hash,
            }  # fmt: skip
            yield ("," if index else "") + "\n" + json.dumps(row, sort_keys=True, default=str)
        yield "\n]\n"

    response = StreamingHttpResponse(rows(), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="audit.json"'
    return response


def _export_record(request: HttpRequest, where, form_of: str) -> None:
    details = {name: str(value) for name, value in vars(where).items() if value}
    audit_record(
        actor=actor_name(request), action="audit.export", target="audit", outcome="succeeded",
        details={**details, "format": form_of},
    )  # fmt: skip


@admin_required
def audit_verify_page(request: HttpRequest) -> HttpResponse:
    result = None
    if request.method == "POST":
        checked, broken = audit_verify()
        result = {"checked": checked, "broken": broken}
    return render(request, "web/audit_verify.html", {"result": result})
