"""Drift made by hand, found with "Check now" and repaired from the person page, in headless
Chromium against a real worker and the local stack: a person taken out of their team's FreeIPA
group by FreeIPA's admin shows on /reconcile/, on their page and on the dashboard; the repair,
previewed first, puts them back, and the finding is settled everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Page, expect

from onboarding.models import LifecycleRun
from onboarding.services import team_set
from tests.conftest import REPO_ROOT
from tests.lifecycle.observe import freeipa_client
from tests.web.browsing import axe_violations, log_in, shot
from tests.web.conftest import admin_group_add, directory_account_create, unique

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack, pytest.mark.browser]

PASS_TIMEOUT_SECONDS = 120
RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def lifecycle_worker_env(lifecycle_worker_env) -> dict[str, str]:
    """FreeIPA alone: the drift is in FreeIPA, and the other systems would only be slower."""
    return {**lifecycle_worker_env, "ACCESSADMIN_SYSTEMS": "freeipa"}


def open_findings(page: Page, url: str) -> int:
    page.goto(f"{url}/")
    text = page.locator("#findings-open").inner_text()
    found = re.search(r"(\d+) open reconciliation finding", text)
    return int(found.group(1)) if found else 0


def check_now_until(page: Page, url: str, present: bool, username: str) -> None:
    """Press "Check now" and reload /reconcile/ until the pass has (or has not) found them."""
    page.goto(f"{url}/reconcile/")
    page.click("button:has-text('Check now')")
    expect(page.locator(".messages")).to_contain_text("A reconciliation pass has started")
    section = page.locator(f"#findings-{username}")
    deadline = time.monotonic() + PASS_TIMEOUT_SECONDS
    while (section.count() > 0) != present:
        assert time.monotonic() < deadline, f"the pass did not {'find' if present else 'clear'}"
        time.sleep(1)
        page.goto(f"{url}/reconcile/")


def test_drift_made_by_hand_is_found_shown_and_repaired_from_the_person_page(
    lifecycle_worker_env, lifecycle_worker, web_server, browser, ldap_configured
):
    url, stack = web_server, ldap_configured
    admin = directory_account_create(stack, "admin-")
    admin_group_add(admin.username)
    group = unique("team-")
    team, _ = team_set(
        name=group,
        group=group,
        leads=[],
        policy_arns=[],
        actor="test",
        system_settings={"jupyterhub": {"group": ""}},
    )
    username = unique("d")
    onboarded = subprocess.run(
        [sys.executable, "manage.py", "onboard", username, "--first-name", "Dee",
         "--last-name", "Rift", "--email", f"{username}@example.test", "--team", team.name,
         "--wait"],
        cwd=REPO_ROOT, env=lifecycle_worker_env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert onboarded.returncode == 0, onboarded.stderr

    # CSP bypassed for axe-core, which is injected as an inline script.
    page = browser.new_context(bypass_csp=True).new_page()
    log_in(page, url, admin.username, admin.password)
    check_now_until(page, url, present=False, username=username)
    before = open_findings(page, url)

    ipa = freeipa_client(stack)
    ipa.login(stack["FREEIPA_USERNAME"], stack["FREEIPA_PASSWORD"])
    removed = ipa.group_remove_member(group, o_user=[username])
    assert removed["completed"] == 1

    check_now_until(page, url, present=True, username=username)
    expect(page.locator(f"#findings-{username}")).to_contain_text(group)
    shot(page, "drift-01-reconcile")
    assert open_findings(page, url) > before

    page.goto(f"{url}/people/{username}/")
    expect(page.locator("#drift")).to_contain_text(group)
    shot(page, "drift-02-person")
    page.click("#repair")
    expect(page.locator("h1")).to_contain_text(f"Repair {username}")
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#repair-findings")).to_contain_text("FreeIPA")
    assert axe_violations(page) == []
    shot(page, "drift-03-repair-preview")
    page.click("#repair-confirm")
    expect(page.locator("#run-state")).to_have_text("Succeeded", timeout=RUN_TIMEOUT_MS)
    shot(page, "drift-04-repaired")

    assert group in ipa.user_show(username, o_all=True)["result"]["memberof_group"]
    run = LifecycleRun.objects.get(person__username=username, kind=LifecycleRun.Kind.REPAIR)
    assert run.state == LifecycleRun.State.SUCCEEDED
    page.goto(f"{url}/reconcile/")
    assert page.locator(f"#findings-{username}").count() == 0
    page.goto(f"{url}/people/{username}/")
    assert page.locator("#drift").count() == 0
    assert open_findings(page, url) == before

    # Post/redirect/get: after a confirmation, Back shows the preview again, fetched by a GET,
    # never the browser's "Confirm Form Resubmission".
    page.goto(f"{url}/people/{username}/offboard/")
    page.fill("#id_reason", "left the company")
    page.click("button[value=preview]")
    expect(page.locator("#preview")).to_be_visible()
    assert "?preview=" in page.url
    page.fill("#id_confirm_username", username)
    page.click("button[value=offboard]")
    expect(page.locator("#run-state")).to_have_text("Succeeded", timeout=RUN_TIMEOUT_MS)
    answer = page.go_back()
    assert answer is not None and answer.request.method == "GET" and answer.ok
    expect(page.locator("h1")).to_contain_text(f"Offboard {username}")
    shot(page, "drift-05-back-after-offboarding")
