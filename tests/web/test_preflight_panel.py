"""The dashboard's preflight panel: platform admins only, fetched after the page, with one
deadline for all the systems and its answer kept a few minutes."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.cache import cache

from onboarding.systems.iam import IAMSystem

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


@pytest.fixture(autouse=True)
def fresh_answer():
    cache.clear()
    yield
    cache.clear()


def test_the_dashboard_asks_for_it_after_the_page(as_admin):
    assert 'hx-get="/preflight/"' in as_admin.get("/").content.decode()


def test_a_lead_is_not_shown_it_nor_let_in(as_lead_a):
    assert 'hx-get="/preflight/"' not in as_lead_a.get("/").content.decode()
    assert as_lead_a.get("/preflight/", HTTP_HX_REQUEST="true").status_code in (302, 403)


def test_an_admin_sees_every_system_pass_as_the_granted_service_account(as_admin):
    page = as_admin.get("/preflight/", HTTP_HX_REQUEST="true").content.decode()
    assert "A run could succeed now." in page
    assert "FreeIPA · rights: ok — holds all" in page
    assert "<html" not in page


# Committed: the panel asks the systems from a thread of its own, with its own connection.
@pytest.mark.django_db(transaction=True)
def test_a_failing_check_is_shown_with_how_to_fix_it(as_admin, monkeypatch):
    monkeypatch.setattr(
        IAMSystem, "team_problem", lambda self, team: "team x has 12 IAM policies", raising=True
    )
    from onboarding.models import Team

    Team.objects.get_or_create(name="too-many", defaults={"freeipa_group": "too-many"})
    page = as_admin.get("/preflight/", HTTP_HX_REQUEST="true").content.decode()
    assert "A run would fail now." in page
    assert "team x has 12 IAM policies" in page
    assert "To fix: remove policies from the team or raise the IAM quota" in page


def test_systems_that_do_not_answer_in_time_leave_the_panel_saying_so(
    as_admin, settings, monkeypatch
):
    settings.PREFLIGHT_TIMEOUT_SECONDS = 1
    released = threading.Event()

    def hang(self):
        released.wait(30)
        return []

    monkeypatch.setattr(IAMSystem, "preflight", hang)
    try:
        started = time.monotonic()
        page = as_admin.get("/preflight/", HTTP_HX_REQUEST="true").content.decode()
        took = time.monotonic() - started
    finally:
        released.set()
    assert took < 2.5
    assert "Not every system answered within 1 s" in page
