"""The sandbox's PostgreSQL cluster: made once under the state dir, run as the postgres user,
back on the same port after it died, and gone with `down`."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sandbox import postgres, process, stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def state_dir() -> Iterator[Path]:
    # Outside pytest's 0700 temp tree: the directory and the cluster run as their own users.
    folder = Path(tempfile.mkdtemp(prefix="accessadmin-pg-"))
    folder.chmod(0o755)
    stack.up(folder, ["directory", "postgres"])
    yield folder
    stack.down(folder)
    shutil.rmtree(folder, ignore_errors=True)


def admin(endpoints: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(
        endpoints["POSTGRES_ACCESS_URL"], password=endpoints["POSTGRES_ACCESS_PASSWORD"]
    )


def test_the_administering_role_may_create_roles_but_is_no_superuser(state_dir):
    endpoints = stack.read_endpoints(state_dir)

    with admin(endpoints) as connection:
        row = connection.execute(
            "SELECT rolsuper, rolcreaterole, pg_has_role('pg_signal_backend', 'MEMBER') "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()

    assert row == (False, True, True)
    assert endpoints["POSTGRES_ACCESS_URL"].startswith("postgres://accessadmin@127.0.0.1:")


def test_the_server_runs_as_the_postgres_user_not_root(state_dir):
    server = process.read_pid(postgres.pid_file(state_dir))

    status = Path(f"/proc/{server}/status").read_text()

    (uid_line,) = [line for line in status.splitlines() if line.startswith("Uid:")]
    assert int(uid_line.split()[1]) == pwd.getpwnam(postgres.OS_USER).pw_uid


def test_a_killed_cluster_comes_back_on_its_port_with_its_roles(state_dir):
    endpoints = stack.read_endpoints(state_dir)
    with admin(endpoints) as connection:
        connection.execute("CREATE ROLE kept_role NOLOGIN")
        connection.commit()
    os.kill(process.read_pid(postgres.pid_file(state_dir)), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.pid_alive(postgres.pid_file(state_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)

    again, _ = stack.up(state_dir, ["postgres"])

    assert again["POSTGRES_ACCESS_URL"] == endpoints["POSTGRES_ACCESS_URL"]
    with admin(again) as connection:
        assert connection.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = 'kept_role'"
        ).fetchone() == (1,)


def test_up_without_the_directory_says_it_needs_it(tmp_path):
    with pytest.raises(RuntimeError, match="start it first"):
        postgres.start(tmp_path, {})
