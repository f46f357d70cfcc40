"""Headless Chromium against a real gunicorn, a real Celery worker and the local stack.

Team leads and admins are FreeIPA users without OTP tokens (see conftest): the sandbox's 389 cannot
check a code on an LDAP bind. Every page visited is saved as a screenshot in test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from onboarding.models import LifecycleRun, Person, Team
from onboarding.services import team_set
from tests.web.browsing import log_in, shot
from tests.web.conftest import admin_group_add, directory_account_create, unique

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack, pytest.mark.browser]

RUN_TIMEOUT_MS = 120_000


def wait_for_run(page: Page, state: str) -> None:
    expect(page.locator("#run-state")).to_have_text(state, timeout=RUN_TIMEOUT_MS)


def run_id_of(page: Page) -> int:
    return int(Path(page.url.rstrip("/")).name)


def test_team_lead_onboards_watches_live_reveals_once_and_offboards(
    web_server, lifecycle_worker, browser, ldap_configured
):
    url = web_server
    lead = directory_account_create(ldap_configured, "lead-")
    team, _ = team_set(
        name=unique("team-"), group=unique("team-"), leads=[lead.username],
        policy_arns=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
        system_settings={"jupyterhub": {"group": unique("hub-")}}, actor="test",
    )  # fmt: skip
    newcomer = unique("n")
    page = browser.new_context().new_page()

    page.goto(f"{url}/login/")
    shot(page, "01-login")
    log_in(page, url, lead.username, lead.password)
    shot(page, "02-dashboard-lead")

    page.click("nav >> text=Onboard")
    page.fill("#id_username", newcomer)
    page.fill("#id_first_name", "New")
    page.fill("#id_last_name", "Starter")
    page.fill("#id_email", f"{newcomer}@example.test")
    # "Choose a team", then the one team the lead leads: nobody is put in a team by default.
    expect(page.locator("#id_team option")).to_have_count(2)
    page.select_option("#id_team", team.name)
    page.click("button[value=preview]")
    expect(page.locator("#preview")).to_contain_text(f"EFS access point /data/{newcomer}")
    shot(page, "03-onboard-preview")
    page.click("button[value=onboard]")

    expect(page.locator("h1")).to_contain_text(newcomer)
    page.evaluate("window.loadedOnce = true")
    shot(page, "04-run-live")
    wait_for_run(page, "Succeeded")
    # Still the same document: the steps were refreshed in place, not by reloading the page.
    assert page.evaluate("window.loadedOnce") is True
    expect(page.locator("tr.step-done")).to_have_count(6)
    # "…is queued" no longer stands above a run that has finished.
    expect(page.locator(".messages")).to_have_count(0)
    shot(page, "05-run-succeeded")

    second_tab = page.context.new_page()
    second_tab.goto(page.url)
    page.click("#reveal")
    password = page.locator("#temporary-password").inner_text()
    assert len(password) >= 12
    assert page.locator("#otp-qr").evaluate("img => img.naturalWidth") > 0
    assert page.locator("#otp-uri").text_content().startswith("otpauth://totp/")
    shot(page, "06-credentials-revealed")
    second_tab.click("#reveal")
    expect(second_tab.locator(".messages")).to_contain_text("already revealed or have expired")
    assert password not in second_tab.content()
    shot(second_tab, "07-credentials-second-time")
    second_tab.close()

    page.goto(f"{url}/people/?q={newcomer}")
    expect(page.locator("table.people")).to_contain_text(newcomer)
    shot(page, "08-people-list")
    page.click(f"text={newcomer}")
    expect(page.locator("tr.system-freeipa")).to_contain_text("active", timeout=30_000)
    expect(page.locator("tr.system-iam")).to_contain_text("AmazonS3ReadOnlyAccess")
    shot(page, "09-person")

    page.click("text=Offboard")
    page.fill("#id_reason", "contract ended")
    page.click("button[value=preview]")
    expect(page.locator("#preview")).to_contain_text("will be done")
    page.fill("#id_confirm_username", "not-them")
    page.click("button[value=offboard]")
    expect(page.locator(".field.has-error")).to_contain_text("exactly to confirm")
    assert page.locator("#id_reason").input_value() == "contract ended"
    shot(page, "10-offboard-confirm-refused")
    page.fill("#id_confirm_username", newcomer)
    page.click("button[value=offboard]")
    wait_for_run(page, "Succeeded")
    shot(page, "11-offboard-run-succeeded")
    assert Person.objects.get(username=newcomer).status == Person.Status.OFFBOARDED

    page.goto(f"{url}/teams/")
    expect(page.locator("h1")).to_have_text("No access")
    shot(page, "12-teams-refused-to-lead")


def test_admin_resumes_a_run_that_failed_on_a_bad_team_policy(
    web_server, lifecycle_worker, browser, ldap_configured
):
    url = web_server
    admin = directory_account_create(ldap_configured, "admin-")
    admin_group_add(admin.username)
    missing_policy = f"arn:aws:iam::aws:policy/{unique('Missing')}"
    team, _ = team_set(
        name=unique("team-"),
        group=unique("team-"),
        actor="test",
        system_settings={"jupyterhub": {"group": unique("hub-")}},
    )
    # A policy that existed when the team was saved and was deleted in AWS since: team_set itself
    # refuses a policy IAM does not have.
    Team.objects.filter(pk=team.pk).update(iam_policy_arns=[missing_policy])
    newcomer = unique("n")
    page = browser.new_context().new_page()
    log_in(page, url, admin.username, admin.password)
    shot(page, "20-dashboard-admin")

    page.goto(f"{url}/onboard/?team={team.name}")
    page.fill("#id_username", newcomer)
    page.fill("#id_first_name", "New")
    page.fill("#id_last_name", "Starter")
    page.fill("#id_email", f"{newcomer}@example.test")
    page.select_option("#id_team", team.name)
    page.click("button[value=preview]")
    page.click("button[value=onboard]")
    wait_for_run(page, "Failed")
    expect(page.locator("tr.step-failed")).to_have_attribute("data-step", "iam_role")
    expect(page.locator("tr.step-failed")).to_contain_text("Create the IAM role")
    expect(page.locator("p.error")).to_contain_text("does not exist")
    shot(page, "21-run-failed")
    run_url = page.url

    page.goto(f"{url}/teams/")
    shot(page, "22-teams")
    page.click(f"text={team.name}")
    page.fill("#id_iam_policy_arns", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    page.click("button[value=preview]")
    expect(page.locator("#team-changes")).to_contain_text("AmazonS3ReadOnlyAccess")
    shot(page, "23-team-edit-preview")
    page.click("button[value=save]")
    expect(page.locator(".messages")).to_contain_text("is saved")

    page.goto(run_url)
    page.click("button:has-text('Resume')")
    expect(page.locator(".messages")).to_contain_text("queued again")
    wait_for_run(page, "Succeeded")
    shot(page, "24-run-resumed-succeeded")
    run = LifecycleRun.objects.get(pk=run_id_of(page))
    assert run.state == LifecycleRun.State.SUCCEEDED
    assert run.steps.get(name="iam_role").attempts == 2

    page.goto(f"{url}/audit/?person={newcomer}")
    expect(page.locator("table.events")).to_contain_text("onboard.resume")
    shot(page, "25-audit-log-filtered")
    page.goto(f"{url}/audit/verify/")
    page.click("button:has-text('Verify now')")
    expect(page.locator("#verify-result")).to_contain_text("Intact")
    shot(page, "26-audit-verified")
    page.goto(f"{url}/people/{newcomer}/systems/")
    expect(page.locator("tr.system-jupyterhub")).to_contain_text("hub user")
    shot(page, "27-person-systems-without-javascript")
