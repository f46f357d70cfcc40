"""A leaver loses every access at once: against the whole local stack, with AWS down."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from onboarding.credentials import credentials_reveal
from onboarding.models import LifecycleRun, Person
from onboarding.services import person_offboard, team_set
from tests.lifecycle.conftest import ldap_can_bind, onboard
from tests.lifecycle.observe import freeipa_change_password, totp_codes
from tests.web import conftest as web

ldap_configured = web.ldap_configured  # the directory login's settings, pointed at the stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

NEW_PASSWORD = "Lead-chose-this-7"


def test_offboarding_keeps_groups_of_no_team_and_says_which(eager, team, username, ipa):
    onboard(username, team)
    extra = f"extra-{username}"
    ipa.freeipa.group_ensure(name=extra, description="a group no team owns")
    ipa.freeipa.group_add_members(username=username, groups=[extra])

    run = person_offboard(
        person=Person.objects.get(username=username), reason="left", actor="admin"
    )

    run.refresh_from_db()
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    memberships = run.steps.get(name="freeipa_memberships_removal").external_ids
    assert memberships == {"removed_groups": [team.freeipa_group], "kept_groups": [extra]}


@pytest.mark.usefixtures("ldap_configured")
def test_a_lead_offboarded_while_aws_is_down_is_locked_out_within_a_minute(
    eager,
    stack_configured,
    team,
    username,
    lifecycle_worker,
    sandbox_session,
    settings,
):
    stack = stack_configured
    onboarded = onboard(username, team)
    secrets = credentials_reveal(run=onboarded, actor="admin")
    codes = totp_codes(secrets["otp_enrolment"], 2)
    freeipa_change_password(stack, username, secrets["temporary_password"], NEW_PASSWORD, codes[0])
    team_set(name=team.name, leads=[username], actor="admin")
    browser = Client()
    assert (
        browser.post("/login/", {"username": username, "password": NEW_PASSWORD}).status_code == 302
    )
    assert browser.get("/").status_code == 200

    settings.RIGHTS_CACHE_SECONDS = 60  # the default: the test shows the leaver does not wait
    moto_pid = int((sandbox_session.state_dir / "aws" / "moto.pid").read_text())
    os.kill(moto_pid, signal.SIGSTOP)  # AWS hangs: the run cannot finish
    try:
        from accessadmin.celery import app

        app.conf.task_always_eager = False  # the real worker runs the offboarding
        asked = time.monotonic()
        run = person_offboard(
            person=Person.objects.get(username=username), reason="left", actor="admin"
        )
        deadline = asked + 60
        while ldap_can_bind(stack, username, NEW_PASSWORD) and time.monotonic() < deadline:
            time.sleep(0.5)
        locked_out_in = time.monotonic() - asked
        assert not ldap_can_bind(stack, username, NEW_PASSWORD)
        response = browser.get("/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")
        run.refresh_from_db()
        assert run.state != LifecycleRun.State.SUCCEEDED
        assert not User.objects.get(username=username).led_teams.exists()
        print(f"\ndirectory bind refused {locked_out_in:.1f} s after the offboarding was asked")
    finally:
        os.kill(moto_pid, signal.SIGCONT)


def test_an_offboarding_waits_out_aws_being_down_and_finishes_by_itself(
    eager, stack_configured, team, username, lifecycle_worker_env, sandbox_session, tmp_path
):
    from accessadmin.celery import app
    from tests.conftest import Worker

    onboard(username, team)
    # One retry allowed: any other run would have failed long before AWS comes back.
    worker = Worker(
        {**lifecycle_worker_env, "CELERY_TASK_MAX_RETRIES": "1"}, tmp_path / "worker.log"
    ).start(purge=True)
    moto_pid = int((sandbox_session.state_dir / "aws" / "moto.pid").read_text())
    os.kill(moto_pid, signal.SIGSTOP)
    try:
        app.conf.task_always_eager = False
        run = person_offboard(
            person=Person.objects.get(username=username), reason="left", actor="admin"
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.retries >= 3:
                break
            time.sleep(1)
        assert run.state in (LifecycleRun.State.QUEUED, LifecycleRun.State.RUNNING), run.error
        assert run.retries >= 3, worker.log()[-3000:]
        assert run.error.startswith("waiting for a system to answer, tries again by itself")
    finally:
        os.kill(moto_pid, signal.SIGCONT)
    try:
        back = time.monotonic()
        while time.monotonic() < back + 180 and run.state != LifecycleRun.State.SUCCEEDED:
            time.sleep(1)
            run.refresh_from_db()
        assert (run.state, run.error) == (LifecycleRun.State.SUCCEEDED, ""), worker.log()[-3000:]
        assert Person.objects.get(username=username).status == Person.Status.OFFBOARDED
        print(f"\nfinished {time.monotonic() - back:.1f} s after AWS answered again")
    finally:
        worker.stop()
