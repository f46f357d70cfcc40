"""Faults heal with no hand action: the broker down or restarted empty, workers killed
mid-batch, every database connection dropped, requests racing for one person, JupyterHub down
for longer than every retry, and beat stopped (which /healthz must tell).

Bounded, and on 127.0.0.1 only: the test runs a Redis of its own (which it kills), with its own
beat and workers, against the session's local stack and test database. Timings are short so the
suite stays fast; ACCESSADMIN_CHAOS_TIMINGS=default runs them with the production defaults.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.test import Client

from onboarding.models import LifecycleRun, Person
from tests.conftest import REPO_ROOT, Worker
from tests.lifecycle.conftest import unique
from tests.lifecycle.observe import access_points, hub_user, roles
from tests.processes import process_running, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

State = LifecycleRun.State
FAST = {
    "LIFECYCLE_STALE_SECONDS": "6",
    "LIFECYCLE_HEARTBEAT_SECONDS": "1",
    "LIFECYCLE_SWEEP_SECONDS": "2",
}
TIMINGS = {} if os.environ.get("ACCESSADMIN_CHAOS_TIMINGS") == "default" else FAST
BROKER_OUTAGE_SECONDS = 30


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnRedis:
    """A Redis without persistence: killing it loses every message it held."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, timeout=10)

    def answers(self) -> bool:
        probe = subprocess.run(
            ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
        )
        return probe.stdout.strip() == "PONG"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Chaos:
    def __init__(self, redis: OwnRedis, env: dict[str, str], directory: Path) -> None:
        self.redis = redis
        self.env = env
        self.directory = directory
        self.workers: list[Worker] = []
        self.beat: subprocess.Popen | None = None

    def worker(self, name: str = "") -> Worker:
        log = self.directory / f"worker-{len(self.workers)}.log"
        worker = Worker(self.env, log, name=name).start()
        self.workers.append(worker)
        return worker

    def beat_start(self) -> None:
        with (self.directory / "beat.log").open("a") as log:
            self.beat = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "accessadmin", "beat", "--loglevel=INFO",
                 f"--schedule={self.directory / 'beat-schedule'}"],
                cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def manage(self, *args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def onboard_many(self, team, usernames: list[str]) -> list[int]:
        """Ask for onboardings as a script would, in one process."""
        code = (
            "import json, os\n"
            "from onboarding.models import Team\n"
            "from onboarding.services import person_onboard\n"
            "team = Team.objects.get(name=os.environ['CHAOS_TEAM'])\n"
            "ids = [person_onboard(username=u, first_name='Chaos', last_name='Test',\n"
            "       email=f'{u}@example.test', team=team, actor='chaos').pk\n"
            "       for u in os.environ['CHAOS_USERS'].split(',')]\n"
            "print(json.dumps(ids))\n"
        )
        done = self.manage(
            "shell", "-c", code,
            extra_env={"CHAOS_TEAM": team.name, "CHAOS_USERS": ",".join(usernames)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def offboard_many(self, usernames: list[str]) -> list[int]:
        """Ask for offboardings as a script would, in one process."""
        code = (
            "import json, os\n"
            "from onboarding.models import Person\n"
            "from onboarding.services import person_offboard\n"
            "ids = [person_offboard(person=Person.objects.get(username=u), reason='left',\n"
            "       actor='chaos').pk for u in os.environ['CHAOS_USERS'].split(',')]\n"
            "print(json.dumps(ids))\n"
        )
        done = self.manage("shell", "-c", code, extra_env={"CHAOS_USERS": ",".join(usernames)})
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def beat_stop(self) -> None:
        if self.beat is not None and self.beat.poll() is None:
            os.killpg(self.beat.pid, signal.SIGTERM)
            self.beat.wait(timeout=30)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.beat_stop()
        self.redis.kill()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted(self.directory.glob("*.log"))
        )


@pytest.fixture
def chaos(lifecycle_worker_env, tmp_path) -> Iterator[Chaos]:
    redis = OwnRedis(tmp_path)
    redis.start()
    env = {
        **lifecycle_worker_env,
        "LIFECYCLE_STALE_SECONDS": "40",
        "LIFECYCLE_HEARTBEAT_SECONDS": "10",
        **TIMINGS,
        "LIFECYCLE_RETRY_BASE_SECONDS": "1",
        "LIFECYCLE_RETRY_MAX_SECONDS": "4",
        "CELERY_TASK_MAX_RETRIES": "30",
        "CELERY_BROKER_URL": redis.url,
        "CELERY_RESULT_BACKEND": redis.url,
    }
    env.pop("CELERY_VISIBILITY_TIMEOUT", None)
    chaos = Chaos(redis, env, tmp_path)
    chaos.beat_start()
    try:
        yield chaos
    finally:
        chaos.stop()


def wait_for_runs(run_ids: list[int], timeout: float) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = dict(LifecycleRun.objects.filter(pk__in=run_ids).values_list("pk", "state"))
        finished = all(state in (State.SUCCEEDED, State.FAILED) for state in states.values())
        if finished or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def assert_all_onboarded(chaos: Chaos, run_ids: list[int], states: dict[int, str]) -> None:
    assert set(states.values()) == {State.SUCCEEDED}, (states, chaos.logs())
    for run in LifecycleRun.objects.filter(pk__in=run_ids).select_related("person"):
        username = run.person.username
        assert len(access_points(chaos.env, username)) == 1, username
        assert len(roles(chaos.env, username)) == 1, username


def test_an_onboarding_asked_for_while_the_broker_is_down_starts_when_it_is_back(chaos, team):
    chaos.worker()
    username = unique("c")
    chaos.redis.kill()
    asked = time.monotonic()
    done = chaos.manage(
        "onboard", username, "--first-name", "Chaos", "--last-name", "Test",
        "--email", f"{username}@example.test", "--team", team.name,
    )  # fmt: skip
    answered_in = time.monotonic() - asked
    assert done.returncode == 0, done.stderr
    assert "the run is saved and starts when the broker is back" in done.stdout
    assert "Traceback" not in done.stderr
    run = LifecycleRun.objects.get(person__username=username)
    assert run.state == State.QUEUED

    time.sleep(max(0, BROKER_OUTAGE_SECONDS - (time.monotonic() - asked)))
    chaos.redis.start()
    back = time.monotonic()
    states = wait_for_runs([run.pk], timeout=90)
    assert_all_onboarded(chaos, [run.pk], states)
    print(f"\nanswered in {answered_in:.1f} s with the broker down; onboarded "
          f"{time.monotonic() - back:.1f} s after it came back")  # fmt: skip
    assert answered_in < 10


def test_runs_waiting_in_a_broker_that_restarts_empty_are_sent_again(chaos, team):
    run_ids = chaos.onboard_many(team, [unique("e") for _ in range(5)])
    chaos.redis.kill()  # no persistence: the five messages are gone
    chaos.redis.start()
    started = time.monotonic()
    chaos.worker()
    states = wait_for_runs(run_ids, timeout=120)
    assert_all_onboarded(chaos, run_ids, states)
    took = time.monotonic() - started
    print(f"\n5 lost messages: all onboarded {took:.1f} s after a worker started")


def test_a_batch_whose_worker_is_killed_finishes_when_another_worker_starts(chaos, team):
    victim = chaos.worker()
    run_ids = chaos.onboard_many(team, [unique("k") for _ in range(10)])
    wait_until(
        lambda: LifecycleRun.objects.filter(pk__in=run_ids, state=State.SUCCEEDED).count() >= 2,
        timeout=60,
    )
    victim.kill()
    assert not process_running(victim.process.pid)
    unfinished = LifecycleRun.objects.filter(pk__in=run_ids).exclude(state=State.SUCCEEDED)
    assert unfinished.exists(), "the batch finished before the kill; nothing was tested"
    started = time.monotonic()
    chaos.worker()
    states = wait_for_runs(run_ids, timeout=150)
    finished_in = time.monotonic() - started
    assert_all_onboarded(chaos, run_ids, states)
    print(f"\nworker killed mid-batch of 10: all onboarded {finished_in:.1f} s after a new "
          "worker started")  # fmt: skip
    assert finished_in < 60 + int(chaos.env["LIFECYCLE_STALE_SECONDS"]) // 10


def test_a_batch_survives_every_database_connection_being_dropped(chaos, team):
    chaos.worker()
    run_ids = chaos.onboard_many(team, [unique("d") for _ in range(10)])
    drops = 0
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            drops += cursor.fetchone()[0]
        time.sleep(0.7)
    assert drops > 0
    states = wait_for_runs(run_ids, timeout=150)
    assert_all_onboarded(chaos, run_ids, states)
    print(f"\n{drops} database connections dropped mid-batch of 10: all onboarded")


def test_requests_racing_for_one_person_lose_with_exit_3_and_no_traceback(chaos, team):
    for _ in range(2):
        username = unique("r")
        Person.objects.create(
            username=username, first_name="R", last_name="T", email="r@example.test",
            team=team, status=Person.Status.ACTIVE,
        )  # fmt: skip
        racers = [
            subprocess.Popen(
                [sys.executable, "manage.py", "offboard", username, "--reason", "left"],
                cwd=REPO_ROOT,
                env=chaos.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outcomes = [(racer.wait(timeout=60), racer.stderr.read()) for racer in racers]
        assert sorted(code for code, _ in outcomes) == [0, 3], outcomes
        assert not any("Traceback" in stderr for _, stderr in outcomes), outcomes
        assert LifecycleRun.objects.filter(person__username=username).count() == 1


def test_a_batch_survives_the_aws_stand_in_dying_and_coming_back(chaos, team, sandbox_session):
    from sandbox import aws as sandbox_aws
    from sandbox import stack as sandbox_stack

    chaos.worker()
    first = chaos.onboard_many(team, [unique("m")])
    assert wait_for_runs(first, timeout=60) == {first[0]: State.SUCCEEDED}
    endpoints_before = dict(chaos.env)
    run_ids = chaos.onboard_many(team, [unique("m") for _ in range(5)])
    moto = sandbox_aws.pid_file(sandbox_session.state_dir)
    os.kill(int(moto.read_text()), signal.SIGKILL)  # mid-batch: AWS calls fail, then retry
    time.sleep(2)
    endpoints, _ = sandbox_stack.up(sandbox_session.state_dir, ["aws"])

    assert endpoints["AWS_ENDPOINT_URL"] == endpoints_before["AWS_ENDPOINT_URL"]
    assert endpoints["EFS_FILE_SYSTEM_ID"] == endpoints_before["EFS_FILE_SYSTEM_ID"]
    states = wait_for_runs(run_ids, timeout=150)
    assert_all_onboarded(chaos, first + run_ids, {**states, first[0]: State.SUCCEEDED})


METRICS_TOKEN = "chaos-metrics-" + "m" * 26


@pytest.fixture
def monitor(chaos, settings) -> Client:
    """/healthz asked as a monitoring system would, with the metrics token, here in the test
    process, judging by the same timings as the chaos workers and beat."""
    settings.METRICS_TOKEN = METRICS_TOKEN
    for name in ("LIFECYCLE_SWEEP_SECONDS", "LIFECYCLE_STALE_SECONDS"):
        setattr(settings, name, int(chaos.env[name]))
    return Client(HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")


def health(monitor: Client) -> tuple[int, dict]:
    answer = monitor.get("/healthz")
    return answer.status_code, answer.json()


def wait_for_health(monitor: Client, wanted, timeout: float) -> tuple[float, int, dict]:
    """Seconds until /healthz answers as `wanted(code, body)` says; fails with its last answer."""
    started = time.monotonic()
    while True:
        code, body = health(monitor)
        if wanted(code, body):
            return time.monotonic() - started, code, body
        assert time.monotonic() - started < timeout, (code, body)
        time.sleep(0.2)


def hub_is_down(endpoints: dict[str, str]) -> bool:
    try:
        requests.get(f"{endpoints['JUPYTERHUB_URL']}/hub/api", timeout=2)
    except requests.ConnectionError:
        return True
    return False


def test_offboardings_outlast_a_jupyterhub_outage_and_finish_when_it_is_back(
    chaos, team, monitor, sandbox_session
):
    from sandbox import jupyterhub as sandbox_jupyterhub
    from sandbox import stack as sandbox_stack

    max_retries = 3
    # Every try of a run fits in a few seconds, so the outage outlasts them all many times over.
    chaos.env.update({
        "CELERY_TASK_MAX_RETRIES": str(max_retries),
        "LIFECYCLE_RETRY_BASE_SECONDS": "1",
        "LIFECYCLE_RETRY_MAX_SECONDS": "2",
    })  # fmt: skip
    chaos.worker()
    usernames = [unique("h") for _ in range(5)]
    onboarded = chaos.onboard_many(team, usernames)
    assert_all_onboarded(chaos, onboarded, wait_for_runs(onboarded, timeout=240))
    assert all(hub_user(chaos.env, username) for username in usernames)

    hub_url = chaos.env["JUPYTERHUB_URL"]
    try:
        sandbox_jupyterhub.stop(sandbox_session.state_dir)
        down_at = time.monotonic()
        assert hub_is_down(chaos.env)
        run_ids = chaos.offboard_many(usernames)
        runs = LifecycleRun.objects.filter(pk__in=run_ids)
        # Down until every run has used up CELERY_TASK_MAX_RETRIES tries and waited on.
        wait_until(
            lambda: runs.filter(retries__gt=max_retries + 1).count() == len(run_ids),
            timeout=180,
        )
        _, code, body = wait_for_health(
            monitor, lambda code, body: body.get("offboardings_waiting") == 5, timeout=60
        )
        assert (code, body["status"], body["problems"]) == (200, "degraded", []), body
        assert set(runs.values_list("state", flat=True)) <= set(LifecycleRun.ACTIVE_STATES)
        tries = sorted(runs.values_list("retries", flat=True))
    finally:
        endpoints, _ = sandbox_stack.up(sandbox_session.state_dir, ["jupyterhub"])
        back_at = time.monotonic()
    assert endpoints["JUPYTERHUB_URL"] == hub_url

    finished_after = {}
    deadline = back_at + 90
    while len(finished_after) < len(run_ids) and time.monotonic() < deadline:
        done = runs.filter(state__in=(State.SUCCEEDED, State.FAILED)).exclude(pk__in=finished_after)
        for run_id in done.values_list("pk", flat=True):
            finished_after[run_id] = time.monotonic() - back_at
        time.sleep(0.2)
    states = dict(runs.values_list("pk", "state"))
    finished = ", ".join(f"{seconds:.1f}" for seconds in sorted(finished_after.values()))
    print(f"\nJupyterHub down {back_at - down_at:.1f} s during 5 offboardings "
          f"(tries each: {tries}, CELERY_TASK_MAX_RETRIES={max_retries}); finished "
          f"{finished} s after it was back")  # fmt: skip
    assert set(states.values()) == {State.SUCCEEDED}, (states, chaos.logs())
    assert max(finished_after.values()) < 60
    assert (
        Person.objects.filter(username__in=usernames, status=Person.Status.OFFBOARDED).count() == 5
    )
    assert [u for u in usernames if hub_user(chaos.env, u) is not None] == []
    _, code, body = wait_for_health(monitor, lambda code, body: code == 200, timeout=30)
    assert body["offboardings_waiting"] == 0


def test_healthz_says_unhealthy_while_beat_is_stopped_and_healthy_once_it_is_back(chaos, monitor):
    from onboarding.health import SWEEPS_MISSED

    chaos.worker()
    period = int(chaos.env["LIFECYCLE_SWEEP_SECONDS"])
    wait_for_health(
        monitor, lambda code, body: code == 200 and body["sweeper_last_run"], timeout=60
    )
    chaos.beat_stop()
    try:
        unhealthy_in, _, body = wait_for_health(
            monitor, lambda code, body: code == 503, timeout=SWEEPS_MISSED * period + 30
        )
        assert body["status"] == "unhealthy", body
        assert "is beat running?" in " ".join(body["problems"]), body
    finally:
        chaos.beat_start()
    healthy_in, _, body = wait_for_health(monitor, lambda code, body: code == 200, timeout=60)
    print(f"\nbeat stopped: /healthz unhealthy after {unhealthy_in:.1f} s "
          f"(LIFECYCLE_SWEEP_SECONDS={period}); healthy {healthy_in:.1f} s "
          "after it restarted")  # fmt: skip
    assert body["status"] == "ok", body
    # The last sweep came at most one period before the stop; slack for a loaded machine.
    assert unhealthy_in <= SWEEPS_MISSED * period + 3
