import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

REPO_ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.stack"]


class Clock:
    """The one clock every date rule of the product reads (`timezone.now`), moved by
    time-machine for this process: the code under test sees the same day as the test. Only
    in-process code follows it; a real worker or server process keeps the machine's clock."""

    def __init__(self, traveller) -> None:
        self._traveller = traveller

    def day(self, day: date) -> date:
        """Noon of `day` in TIME_ZONE, ticking on from there; returns the day."""
        noon = datetime.combine(day, clock_time(12), tzinfo=ZoneInfo(settings.TIME_ZONE))
        self._traveller.move_to(noon, tick=True)
        return day


@pytest.fixture
def clock(time_machine) -> Clock:
    return Clock(time_machine)


def _database_url_for_tests() -> str:
    """The URL of the database pytest-django created, for processes outside pytest."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture(scope="session", autouse=True)
def test_database_released(django_db_setup, django_db_blocker):
    """At the end, nothing may hold the test database, or it cannot be dropped: lifecycle step
    threads keep connections, and a browser test's ORM calls may leave one in another context."""
    yield
    from django.db import connection

    from onboarding.runner import step_threads_stop

    with django_db_blocker.unblock():
        step_threads_stop()
        # pytest-django makes the test database only when a collected test needs one.
        made = connection.settings_dict["NAME"].startswith("test_")
        if connection.vendor == "postgresql" and made:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend' AND state = 'idle'"
                )


@pytest.fixture(scope="session")
def worker_env(django_db_setup) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = _database_url_for_tests()
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["CELERY_RESULT_BACKEND"] = settings.CELERY_RESULT_BACKEND
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Worker:
    """A real Celery worker process consuming from the test broker, against the test database,
    with the pool production uses (docker-compose.yml)."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, name: str = "", pool: str = "threads"
    ) -> None:
        self.env = env
        self.pool = pool
        self.log_path = log_path
        # A worker restarted under the same name is the same worker coming back.
        self.name = name or f"test-{uuid.uuid4().hex[:6]}@%h"
        self.process: subprocess.Popen | None = None

    def start(self, *, purge: bool = False) -> "Worker":
        argv = [
            sys.executable, "-m", "celery", "-A", "accessadmin", "worker",
            "--concurrency=2", "--loglevel=INFO", "--without-gossip", "--without-mingle",
            f"--hostname={self.name}", f"--pool={self.pool}", "--include=tests.worker_tasks",
        ]  # fmt: skip
        if purge:
            argv.append("--purge")
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        start_of_this_run = self.log_path.stat().st_size if self.log_path.exists() else 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early:\n{self.log()[-3000:]}")
            if " ready." in self.log()[start_of_this_run:]:
                return
            time.sleep(0.2)
        raise TimeoutError(f"Celery worker not ready after {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """As the OOM killer or a lost machine would: no chance to clean up or re-queue."""
        os.killpg(self.process.pid, signal.SIGKILL)  # the parent and its pool children
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def celery_worker(worker_env, tmp_path):
    worker = Worker(worker_env, tmp_path / "worker.log").start(purge=True)
    try:
        yield worker
    finally:
        worker.stop()
