"""A newcomer's first login, in headless Chromium on a phone-sized window: an onboarding on a real
worker e-mails them a link through a real SMTP server; the link shows their OTP QR code; a code
computed from its key and a new password set a password that is theirs. Then LDAP lets in the
new password and not the temporary one, the link says it was used, and no e-mail or log held a
secret."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import ldap
import pyotp
import pytest
from playwright.sync_api import expect

import sandbox.freeipa as freeipa
from onboarding.credentials import credentials_read
from onboarding.models import Credential, LifecycleRun
from sandbox.freeipa import passwords
from tests.conftest import REPO_ROOT
from tests.lifecycle import conftest as lifecycle
from tests.mailbox import Mailbox, body
from tests.web.browsing import PHONE, axe_violations, shot, sideways_overflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack, pytest.mark.browser]

CHOSEN = "Chosen-password-22"
SITE_URL = "https://accessadmin.example.test"
MAIL_TIMEOUT_SECONDS = 120

team = lifecycle.team
username = lifecycle.username


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def lifecycle_worker_env(lifecycle_worker_env, mailbox) -> dict[str, str]:
    """The worker and the web server, with e-mail (so enrolment is on) and FreeIPA alone (the
    other systems hold no credentials and would only make the test slower)."""
    return {
        **lifecycle_worker_env,
        "ACCESSADMIN_SYSTEMS": "freeipa",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(mailbox.port),
        "EMAIL_USE_TLS": "false",
        "DEFAULT_FROM_EMAIL": "accessadmin@example.test",
        "SITE_URL": SITE_URL,
    }


@pytest.fixture
def grace_limit(stack_configured) -> Iterator:
    tree = freeipa.tree_for(stack_configured)
    yield lambda limit: passwords.set_grace_limit(tree, limit)
    passwords.set_grace_limit(tree, passwords.DEFAULT_GRACE_LIMIT)


def mail_to(mailbox: Mailbox, address: str):
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    while not mailbox.to(address):
        assert time.monotonic() < deadline, f"no e-mail to {address}"
        time.sleep(0.5)
    return mailbox.to(address)[0]


def binds(stack: dict[str, str], username: str, password: str) -> bool:
    connection = ldap.initialize(stack["LDAP_URI"])
    try:
        connection.simple_bind_s(
            f"uid={username},cn=users,cn=accounts,{stack['LDAP_BASE_DN']}", password
        )
    except ldap.INVALID_CREDENTIALS:
        return False
    finally:
        connection.unbind_s()
    return True


@pytest.mark.parametrize("limit", [passwords.UNLIMITED_GRACE, 2])
def test_newcomer_sets_up_their_login_from_the_e_mailed_link_on_a_phone(
    limit, grace_limit, lifecycle_worker_env, lifecycle_worker, web_server, browser, mailbox,
    team, username, stack_configured, tmp_path,
):  # fmt: skip
    grace_limit(limit)
    address = f"{username}@example.test"
    onboarded = subprocess.run(
        [sys.executable, "manage.py", "onboard", username, "--first-name", "Ada",
         "--last-name", "Example", "--email", address, "--team", team.name, "--wait"],
        cwd=REPO_ROOT, env=lifecycle_worker_env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert onboarded.returncode == 0, onboarded.stderr
    run = LifecycleRun.objects.get(person__username=username)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    # Read here only to prove it stops working; nobody is shown it.
    temporary = credentials_read(run=run)[Credential.Kind.TEMPORARY_PASSWORD]

    mail = mail_to(mailbox, address)
    found = re.search(re.escape(SITE_URL) + r"(/enrol/[A-Za-z0-9_-]+/)", body(mail))
    assert found, body(mail)
    link = f"{web_server}{found.group(1)}"

    page = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
    answer = page.goto(link)
    assert "no-store" in answer.headers["cache-control"]
    expect(page.locator("h1")).to_have_text("Set up your login, Ada")
    assert page.locator("#otp-qr").evaluate("img => img.naturalWidth") > 0
    assert sideways_overflow(page) == 0
    assert axe_violations(page) == []
    shot(page, "enrolment-01-link")
    key = page.locator("#otp-key").inner_text().replace(" ", "")

    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(key).now())
    page.get_by_label("New password", exact=True).fill(CHOSEN)
    page.get_by_label("New password again").fill(CHOSEN)
    page.click("#enrol-submit")

    expect(page.locator("h1")).to_have_text("Your login is set up")
    expect(page.locator("#enrolment-message")).to_contain_text("This link was used on")
    assert axe_violations(page) == []
    shot(page, "enrolment-02-done")
    assert binds(stack_configured, username, CHOSEN)
    assert not binds(stack_configured, username, temporary)
    page.goto(link)
    expect(page.locator("#enrolment-message")).to_contain_text("This link was used on")
    assert page.locator("#otp-qr").count() == 0

    for message in mailbox.messages:
        assert temporary not in message.as_string() and key not in message.as_string()
    for log in (tmp_path / "gunicorn.log", tmp_path / "worker.log"):
        text = log.read_text() if log.exists() else ""
        assert temporary not in text and key not in text
