"""Local runs use SQLite, which has no trigger and no privileges: the keyed chain and the head
written outside the database still find tampering, as `manage.py audit_verify` run by hand."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

APPEND = (
    "import django; django.setup()\n"
    "from onboarding.audit import audit_record\n"
    "for n in range({n}):\n"
    "    audit_record(actor='admin', action='person.offboard', target=f'user{{n}}',\n"
    "                 outcome='requested')\n"
)


def local_env(database: Path, head: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUDIT_", "DATABASE_", "ACCESSADMIN_"))
    }
    return {
        **env,
        "ACCESSADMIN_ENV": "local",
        "DJANGO_SETTINGS_MODULE": "accessadmin.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "AUDIT_HEAD_FILE": str(head),
        "SECRET_KEY": "a-local-secret-key-" * 3,
        **extra,
    }


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    database = tmp_path_factory.mktemp("sqlite") / "migrated.sqlite3"
    env = local_env(database, database.with_suffix(".head"))
    result = run(env, "manage.py", "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    return database


@pytest.fixture
def local_run(migrated_database, tmp_path):
    """A fresh local database with five audit events appended by the app."""
    database = tmp_path / "db.sqlite3"
    shutil.copy(migrated_database, database)
    env = local_env(database, tmp_path / "audit-head.log")
    result = run(env, "-c", APPEND.format(n=5))
    assert result.returncode == 0, result.stderr
    return database, env


def test_a_local_run_chains_events_and_records_their_head(local_run):
    _, env = local_run

    result = run(env, "manage.py", "audit_verify")

    assert result.returncode == 0, result.stderr
    assert "Audit trail intact: 5 events verified." in result.stdout
    assert "5 heads recorded outside the database match the chain" in result.stdout


def test_deleting_the_newest_events_of_a_local_run_is_reported(local_run):
    database, env = local_run
    with sqlite3.connect(database) as db:
        newest = db.execute("SELECT max(id) FROM onboarding_auditevent").fetchone()[0]
        db.execute("DELETE FROM onboarding_auditevent WHERE id >= ?", [newest - 1])

    result = run(env, "manage.py", "audit_verify")

    assert result.returncode == 1
    assert f"Audit trail broken at event #{newest - 1}" in result.stderr
    assert "missing" in result.stderr


def test_a_local_run_checked_with_another_key_is_reported(local_run):
    _, env = local_run

    result = run({**env, "AUDIT_KEY": "another-key-" * 4}, "manage.py", "audit_verify")

    assert result.returncode == 1
    assert "Audit trail broken at event #1" in result.stderr
