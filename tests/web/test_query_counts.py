"""List pages make the same number of queries for a few rows as for many."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from onboarding.audit import audit_record
from onboarding.models import Person, Team
from onboarding.runner import run_steps_create
from tests.factories import make_run
from tests.web.conftest import LOCAL_BACKEND, Personas

pytestmark = pytest.mark.django_db


def seed(personas: Personas, count: int, start: int) -> None:
    """`count` people in team A, each with a failed run, and audit events about them."""
    team = personas.team_a
    for index in range(start, start + count):
        person = Person.objects.create(
            username=f"seed{team.pk}-{index}", first_name="Seed", last_name=str(index),
            email=f"seed{index}@example.test", team=team, status="onboarding",
        )  # fmt: skip
        run = make_run(person, state="failed", requested_by=personas.lead_a)
        run_steps_create(run)
        audit_record(actor="lead-a", action="onboard.request", target=person.username,
                     outcome="requested", run=run)  # fmt: skip
        Team.objects.create(name=f"extra-{team.pk}-{index}", freeipa_group=f"x{index}")


PAGES = {
    "dashboard": lambda person: "/",
    "people": lambda person: "/people/",
    "people filtered": lambda person: "/people/?status=onboarding&q=seed",
    "person": lambda person: f"/people/{person.username}/",
    "run": lambda person: f"/runs/{person.runs.get().pk}/",
    "audit log": lambda person: "/audit/",
    "audit log filtered": lambda person: "/audit/?action=onboard.request&outcome=requested",
    "teams": lambda person: "/teams/",
}
# Two of them bound the request's statements and locks (web/database_timeouts.py) and lift the
# bounds afterwards; an admin's dashboard also says when reconciliation last passed and what a
# new installation still lacks.
MAX_QUERIES = 16


FORBIDDEN_TO_LEADS = {"audit log", "audit log filtered", "teams"}


def queries_for(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return len(queries), response.status_code


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("role", ["admin", "lead_a"])
def test_list_pages_make_as_many_queries_for_many_rows_as_for_few(
    client, personas: Personas, page: str, role: str
):
    client.force_login(getattr(personas, role), backend=LOCAL_BACKEND)
    seed(personas, 3, start=0)
    few, status = queries_for(client, PAGES[page](Person.objects.latest("id")))
    seed(personas, 60, start=3)
    many, _ = queries_for(client, PAGES[page](Person.objects.latest("id")))

    assert status == (403 if role == "lead_a" and page in FORBIDDEN_TO_LEADS else 200)
    assert many == few
    assert many <= MAX_QUERIES
