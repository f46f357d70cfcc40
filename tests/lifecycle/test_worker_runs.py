"""Runs done by real Celery workers in their own processes, driven by manage.py like a script."""

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from django.db import connection

from onboarding.models import AuditEvent, LifecycleRun, Step
from onboarding.services import person_onboard
from onboarding.tasks import runs_overdue_requeue_task
from tests.conftest import REPO_ROOT, Worker
from tests.lifecycle.observe import access_points

pytestmark = pytest.mark.django_db(transaction=True)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def database_text() -> str:
    """Every row of every table of ours, as text: what a database dump would hold."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the schema
            chunks.append(repr(cursor.fetchall()))
    return "\n".join(chunks)


def test_onboard_command_runs_on_a_worker_and_secrets_appear_only_in_the_reveal(
    lifecycle_worker, lifecycle_worker_env, team, username, caplog
):
    env = lifecycle_worker_env
    result = manage(
        env, "onboard", username, "--first-name", "Ada", "--last-name", "Example",
        "--email", f"{username}@example.test", "--team", team.name, "--wait",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded" in result.stdout
    run_id = re.search(r"Run #(\d+)", result.stdout).group(1)

    revealed = manage(env, "reveal_credentials", run_id)
    assert revealed.returncode == 0, revealed.stderr
    password = re.search(r"Temporary password: (\S+)", revealed.stdout).group(1)
    otp_uri = re.search(r"OTP enrolment URI: (\S+)", revealed.stdout).group(1)
    secret = re.search(r"secret=([A-Z2-7]+)", otp_uri).group(1)

    again = manage(env, "reveal_credentials", run_id)
    assert again.returncode == 1
    assert "already revealed or have expired" in again.stderr

    places = {
        "database": database_text(),
        "audit details": repr(list(AuditEvent.objects.values_list("details", flat=True))),
        "worker log": lifecycle_worker.log(),
        "command output": result.stdout + result.stderr,
        "test log": caplog.text,
    }
    for place, text in places.items():
        assert password not in text, f"temporary password found in {place}"
        assert secret not in text, f"OTP secret found in {place}"


@contextmanager
def onboarding_inside_the_efs_step(sandbox_session, team, username: str, first_name: str):
    """An onboarding whose worker sits inside the EFS step, its request on the way to a hung
    EFS; EFS answers again when the block ends."""
    moto_pid = int((sandbox_session.state_dir / "aws" / "moto.pid").read_text())
    os.kill(moto_pid, signal.SIGSTOP)
    try:
        run = person_onboard(
            username=username, first_name=first_name, last_name="Test",
            email=f"{username}@example.test", team=team, actor="admin",
        )  # fmt: skip
        step = Step.objects.get(run=run, name="efs_access_point")
        deadline = time.monotonic() + 60
        while step.state != Step.State.RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
            step.refresh_from_db()
        assert step.state == Step.State.RUNNING
        time.sleep(0.5)  # the create request is on its way to EFS
        yield run
    finally:
        os.kill(moto_pid, signal.SIGCONT)


def test_a_worker_frozen_mid_step_and_woken_after_a_take_over_writes_and_calls_nothing(
    lifecycle_worker, lifecycle_worker_env, sandbox_session, team, username, tmp_path
):
    with onboarding_inside_the_efs_step(sandbox_session, team, username, "Frozen") as run:
        # A paused VM or a long stop-the-world pause: alive, silent, its request in flight.
        os.killpg(lifecycle_worker.process.pid, signal.SIGSTOP)

    replacement = Worker(lifecycle_worker_env, tmp_path / "replacement.log").start()
    try:
        try:
            time.sleep(int(lifecycle_worker_env["LIFECYCLE_STALE_SECONDS"]))
            assert runs_overdue_requeue_task.delay().get(timeout=30) == [run.pk]
            deadline = time.monotonic() + 120
            run.refresh_from_db()
            while run.state != LifecycleRun.State.SUCCEEDED and time.monotonic() < deadline:
                time.sleep(0.5)
                run.refresh_from_db()
            assert run.state == LifecycleRun.State.SUCCEEDED, replacement.log()[-2000:]
            events = list(run.events.order_by("id").values_list("id", "actor", "action"))
            steps = list(run.steps.order_by("id").values_list("name", "state", "attempts"))
        finally:
            os.killpg(lifecycle_worker.process.pid, signal.SIGCONT)
        # The woken worker reads EFS's answer to its old request, then finds the run taken.
        deadline = time.monotonic() + 30
        while "no longer this worker's" not in lifecycle_worker.log():
            assert time.monotonic() < deadline, lifecycle_worker.log()[-3000:]
            time.sleep(0.5)
        time.sleep(2)
    finally:
        replacement.stop()
    run.refresh_from_db()
    assert run.state == LifecycleRun.State.SUCCEEDED
    assert list(run.events.order_by("id").values_list("id", "actor", "action")) == events
    assert list(run.steps.order_by("id").values_list("name", "state", "attempts")) == steps
    assert len(access_points(lifecycle_worker_env, username)) == 1


def test_worker_killed_mid_step_is_taken_over_and_the_step_is_not_redone(
    lifecycle_worker, lifecycle_worker_env, sandbox_session, team, username, tmp_path
):
    with onboarding_inside_the_efs_step(sandbox_session, team, username, "Kill") as run:
        lifecycle_worker.kill()
        killed_at = time.monotonic()

    replacement = Worker(lifecycle_worker_env, tmp_path / "replacement.log").start()
    try:
        # What beat does every minute; the broker's own redelivery of the unacknowledged task
        # also comes, later (about 100 s here), and then finds the run finished.
        time.sleep(int(lifecycle_worker_env["LIFECYCLE_STALE_SECONDS"]))
        assert runs_overdue_requeue_task.delay().get(timeout=30) == [run.pk]
        deadline = time.monotonic() + 120
        run.refresh_from_db()
        while run.state != LifecycleRun.State.SUCCEEDED and time.monotonic() < deadline:
            time.sleep(0.5)
            run.refresh_from_db()
    finally:
        replacement.stop()
    assert run.state == LifecycleRun.State.SUCCEEDED, (
        run.state,
        run.error,
        replacement.log()[-2000:],
    )
    assert len(access_points(lifecycle_worker_env, username)) == 1
    efs_step = run.steps.get(name="efs_access_point")
    assert efs_step.attempts == 2
    assert run.events.filter(action="run.take_over").exists()
    print(f"\nfinished by the replacement {time.monotonic() - killed_at:.1f}s after the kill")
