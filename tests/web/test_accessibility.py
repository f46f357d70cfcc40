"""Every main page, at a desktop's and a phone's width: no axe-core violation (WCAG 2.1 A/AA and
best practice), no sideways scrolling on a 390 px phone, and a screenshot of each in
test-artifacts/screenshots/ to look at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from onboarding.audit import audit_record
from onboarding.credentials import credential_store
from onboarding.models import AccessReview, Credential, LifecycleRun, Person, Team
from onboarding.reviews import review_open
from onboarding.runner import run_steps_create
from onboarding.services import team_set
from tests.factories import make_person, make_run
from tests.web.browsing import DESKTOP, PHONE, axe_violations, shot, sideways_overflow
from tests.web.conftest import unique

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack, pytest.mark.browser]

PASSWORD = "Break-glass-password-1"


@dataclass
class Site:
    url: str
    team: Team
    person: Person
    review: AccessReview


@pytest.fixture
def site(web_server, ldap_configured) -> Site:
    User.objects.create_superuser(unique("root-"), password=PASSWORD)
    team, _ = team_set(
        name=unique("vision-"), group=unique("vision-"),
        policy_arns=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
        system_settings={"jupyterhub": {"group": unique("hub-")}}, actor="test",
    )  # fmt: skip
    person = make_person(unique("ada"), team=team, status="active", uid_number=70001)
    stuck = make_person(unique("bob"), team=team, status="onboarding")
    failed = make_run(stuck, state="failed", error="iam: the policy does not exist")
    run_steps_create(failed)
    audit_record(actor="test", action="onboard.request", target=stuck.username,
                 outcome="requested", details={"run": failed.pk}, run=failed)  # fmt: skip
    review = review_open(team=team, deadline=timezone.localdate() + timedelta(days=7), actor="test")
    return Site(web_server, team, person, review)


def log_in_local(page: Page, site: Site) -> None:
    username = User.objects.filter(is_superuser=True).latest("id").username
    page.goto(f"{site.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")


# A table wider than its box must say that it scrolls (site.js marks it, site.css says it).
UNMARKED_SCROLLING_TABLES = """() => [...document.querySelectorAll('.table-scroll')].filter(
    box => box.scrollWidth > box.clientWidth + 1 && !box.classList.contains('scrolls')).length"""


def pages(site: Site) -> list[tuple[str, str, str | None]]:
    """(name, path, what to click first) of every page checked."""
    username = site.person.username
    return [
        ("dashboard", "/", None),
        ("people", "/people/", None),
        ("person", f"/people/{username}/", None),
        ("onboard", "/onboard/", None),
        ("onboard-csv-preview", "/onboard/csv/", None),
        ("offboard", f"/people/{username}/offboard/", None),
        ("offboard-preview", f"/people/{username}/offboard/", "preview-offboard"),
        ("teams", "/teams/", None),
        ("team-new", "/teams/new/", None),
        ("team-new-errors", "/teams/new/", None),
        ("team-new-preview", "/teams/new/", None),
        ("team-edit", f"/teams/{site.team.name}/", None),
        ("audit", "/audit/", None),
        ("api-tokens", "/api-tokens/", None),
        ("reviews", "/reviews/", None),
        ("review-new", "/reviews/new/", None),
        ("review", f"/reviews/{site.review.pk}/", None),
        ("review-print", f"/reviews/{site.review.pk}/print/", None),
    ]


def page_ready(page: Page, name: str, site: Site) -> None:
    if name == "person":
        expect(page.locator("#systems-heading")).to_be_visible()
        expect(page.locator("#systems")).not_to_have_attribute("aria-busy", "true", timeout=15_000)
    if name == "team-new-errors":
        page.fill("#id_name", "bad name")
        page.fill("#id_leads", "nobody-here")
        page.fill("#id_iam_policy_arns", "not-an-arn")
        page.click("button[type=submit].primary")
        expect(page.locator("#form-errors")).to_be_focused()
    if name == "team-new-preview":
        page.fill("#id_name", unique("newteam-"))
        page.fill("#id_freeipa_group", unique("newgroup-"))
        page.click("button[type=submit][value=preview]")
        expect(page.locator("#preview")).to_be_focused()
        expect(page.locator("button[value=team_create]")).to_be_visible()
    if name == "onboard-csv-preview":
        rows = "".join(
            f"{unique('csv')},Row,Number{n},row{n}@example.test,{site.team.name}\n"
            for n in range(40)
        )
        page.set_input_files("#id_file", files=[{
            "name": "people.csv", "mimeType": "text/csv",
            "buffer": ("username,first_name,last_name,email,team\n" + rows).encode(),
        }])  # fmt: skip
        page.click("button[value=preview]")
        expect(page.locator("#confirm")).to_be_visible()
        height = page.evaluate("document.documentElement.scrollHeight")
        if page.viewport_size["width"] >= DESKTOP["width"]:  # a phone stacks each row as a card
            assert height < 6000, f"40 rows make a page {height} px long"
    if name == "offboard-preview":
        page.fill("#id_reason", "contract ended")
        page.click("button[value=preview]")
        expect(page.locator("#preview")).to_be_visible()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_main_page_passes_axe_and_fits_the_screen(site, browser, width):
    viewport = DESKTOP if width == "desktop" else PHONE
    # axe is injected as a script of its own: the test's browser lets it past the CSP.
    context = browser.new_context(viewport=viewport, bypass_csp=True)
    page = context.new_page()
    log_in_local(page, site)
    problems = []
    for name, path, _ in pages(site):
        page.goto(f"{site.url}{path}")
        page_ready(page, name, site)
        shot(page, f"a11y-{viewport['width']}-{name}")
        problems += [f"{name}: {violation}" for violation in axe_violations(page)]
        overflow = sideways_overflow(page)
        if overflow > 0:
            problems.append(f"{name}: {overflow} px wider than a {viewport['width']} px window")
        unmarked = page.evaluate(UNMARKED_SCROLLING_TABLES)
        if unmarked:
            problems.append(f"{name}: {unmarked} table(s) scroll sideways without saying so")
    context.close()

    assert problems == [], "\n".join(problems)


def test_the_hand_over_sheet_passes_axe_and_prints_alone(site, browser):
    requester = User.objects.filter(is_superuser=True).latest("id")
    newcomer = make_person(unique("cy"), team=site.team, status="active")
    run = make_run(newcomer, state="succeeded", requested_by=requester, actor=requester.username)
    credential_store(run=run, kind=Credential.Kind.TEMPORARY_PASSWORD, secret="Temp-secret-1")
    credential_store(
        run=run, kind=Credential.Kind.OTP_ENROLMENT,
        secret="otpauth://totp/EXAMPLE.TEST:cy?secret=JBSWY3DPEHPK3PXP&issuer=EXAMPLE.TEST",
    )  # fmt: skip
    context = browser.new_context(viewport=PHONE, bypass_csp=True)
    page = context.new_page()
    log_in_local(page, site)

    page.goto(f"{site.url}/runs/{run.pk}/")
    page.click("#reveal")
    expect(page.locator("#temporary-password")).to_have_text("Temp-secret-1")
    shot(page, "handover-390")
    problems = axe_violations(page)
    page.emulate_media(media="print")
    shot(page, "handover-print")

    assert problems == [], "\n".join(problems)
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("button[data-print]")).to_be_hidden()
    expect(page.locator("#handover")).to_contain_text(newcomer.username)
    expect(page.locator("#otp-qr")).to_be_visible()
    expect(page.locator("#otp-secret")).to_have_text("JBSW Y3DP EHPK 3PXP")
    context.close()


def test_the_team_form_shows_every_problem_at_once_and_makes_nothing(site, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    log_in_local(page, site)
    name = unique("newteam-")
    page.goto(f"{site.url}/teams/new/")
    page.fill("#id_name", name)
    page.fill("#id_freeipa_group", "Bad Group!")
    page.fill("#id_leads", "nobody-here, nobody-either")
    page.fill("#id_iam_policy_arns", "not-an-arn")
    page.click("button[type=submit].primary")

    expect(page.locator("#form-errors")).to_be_focused()
    # Each problem beside its own field, all at once; both unknown leads are named.
    expect(page.locator("#id_freeipa_group_error")).to_be_visible()
    expect(page.locator("#id_leads_error")).to_contain_text("nobody-here")
    expect(page.locator("#id_leads_error")).to_contain_text("nobody-either")
    expect(page.locator("#id_iam_policy_arns_error")).to_be_visible()
    shot(page, "team-form-every-error")
    context.close()
    assert not Team.objects.filter(name=name).exists()


def test_a_new_team_is_previewed_then_created_with_the_button_under_its_preview(site, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    log_in_local(page, site)
    name = unique("newteam-")
    page.goto(f"{site.url}/teams/new/")
    page.fill("#id_name", name)
    page.fill("#id_freeipa_group", name)
    page.click("button[value=preview]")

    expect(page.locator("#preview")).to_contain_text(f"everyone onboarded into {name} joins it")
    assert not Team.objects.filter(name=name).exists()
    page.click("button[value=team_create]")

    expect(page.locator("h1")).to_have_text("Teams")
    expect(page.locator("main")).to_contain_text(f"Team {name} is created")
    context.close()
    assert Team.objects.filter(name=name).exists()


def test_back_after_a_bulk_onboarding_shows_its_ended_preview_and_sends_nothing(site, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    log_in_local(page, site)
    newcomer = unique("bulk")
    page.goto(f"{site.url}/onboard/csv/")
    page.set_input_files("#id_file", files=[{
        "name": "people.csv", "mimeType": "text/csv",
        "buffer": ("username,first_name,last_name,email,team\n"
                   f"{newcomer},New,Person,{newcomer}@example.test,{site.team.name}\n").encode(),
    }])  # fmt: skip
    page.click("button[value=preview]")
    expect(page.locator("#confirm")).to_be_visible()
    assert "?preview=" in page.url and newcomer not in page.url
    page.click("button[value=onboard]")
    expect(page.locator("main")).to_contain_text("1 onboarding is queued")

    page.go_back()

    expect(page.locator("#page-error")).to_contain_text("That preview has ended")
    expect(page.locator("#confirm")).to_have_count(0)
    context.close()
    assert LifecycleRun.objects.filter(person__username=newcomer).count() == 1


def test_the_audit_log_filters_by_part_of_an_action(site, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    log_in_local(page, site)
    page.goto(f"{site.url}/audit/")
    page.fill("#id_action", "request")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.events")).to_contain_text("onboard.request")
    expect(page.locator("table.events")).not_to_contain_text("team.create")
    page.fill("#id_action", "no-such-action")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.events")).to_contain_text("No events match these filters.")
    shot(page, "audit-filtered")
    context.close()
