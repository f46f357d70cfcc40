"""What scripts/run-local relies on, checked piece by piece: a fresh checkout migrates, commands
print no django-axes banner, the first team is decided by an exit code, each checkout gets its own
Redis database, and the build context and git leave the secrets out."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RUN_LOCAL = (REPO_ROOT / "scripts" / "run-local").read_text()


def manage(
    *args: str, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def fresh_checkout(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The project's layout without var/, migrated with the local defaults (no DATABASE_URL)."""
    root = tmp_path_factory.mktemp("checkout")
    # settings.py finds var/ from its own resolved path, so it is copied; the rest may be links.
    shutil.copytree(
        REPO_ROOT / "accessadmin",
        root / "accessadmin",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO_ROOT / "manage.py", root / "manage.py")
    for name in ("onboarding", "web", "templates", "static"):
        (root / name).symlink_to(REPO_ROOT / name)
    env = {**os.environ, "ACCESSADMIN_ENV": "local"}
    env.pop("DATABASE_URL", None)
    env.pop("AUDIT_HEAD_FILE", None)
    assert not (root / "var").exists()
    result = manage("migrate", "--noinput", cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    return root, env


def test_a_fresh_checkout_migrates_into_a_new_var_folder(fresh_checkout):
    root, _ = fresh_checkout
    assert (root / "var" / "db.sqlite3").stat().st_size > 0


def test_a_sqlite_url_into_a_missing_folder_migrates(tmp_path):
    database = tmp_path / "not" / "yet" / "db.sqlite3"
    env = {
        **os.environ,
        "ACCESSADMIN_ENV": "local",
        "DATABASE_URL": f"sqlite:///{database}",
        "AUDIT_HEAD_FILE": str(tmp_path / "audit-head.log"),
    }
    result = manage("migrate", "--noinput", env=env)
    assert result.returncode == 0, result.stderr
    assert database.stat().st_size > 0


def test_commands_print_no_axes_banner(fresh_checkout):
    root, env = fresh_checkout
    for args in (("check",), ("plans",)):
        result = manage(*args, cwd=root, env=env)
        assert result.returncode == 0, result.stderr
        assert "AXES" not in result.stdout + result.stderr, args
    assert "onboard" in result.stdout  # plans printed what it should


def test_lockout_warnings_are_still_logged():
    import logging

    from django.conf import settings

    assert settings.AXES_VERBOSE is False
    assert logging.getLogger("axes.handlers.database").isEnabledFor(logging.WARNING)


def test_the_first_team_is_decided_by_an_exit_code_not_by_output(fresh_checkout):
    root, env = fresh_checkout
    # The very check run-local runs.
    check = re.search(r"manage shell --no-imports -c '(.*?)' \|\| teams=\$\?", RUN_LOCAL, re.S)
    assert check, "run-local no longer counts the teams with manage shell --no-imports -c"
    assert manage("shell", "--no-imports", "-c", check[1], cwd=root, env=env).returncode == 0
    made = manage(
        "shell", "-c", "from onboarding.models import Team; Team.objects.create(name='t')",
        cwd=root, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert manage("shell", "--no-imports", "-c", check[1], cwd=root, env=env).returncode == 3
    # Nothing in run-local reads what manage.py prints.
    assert not re.search(r"\$\([^)]*manage", RUN_LOCAL)


@pytest.fixture
def redis_url(tmp_path):
    """A Redis of the test's own, so the claims below touch no one else's."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            ping = subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
            )
            if ping.stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def checkout_redis_db(redis_url: str, checkout: Path, **extra: str) -> subprocess.CompletedProcess:
    script = f'. "{REPO_ROOT}/scripts/lib.sh"; REPO_ROOT="$1"; REDIS_URL="$2"; checkout_redis_db'
    return subprocess.run(
        ["bash", "-c", script, "bash", str(checkout), redis_url],
        env={**os.environ, **extra},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_each_checkout_gets_its_own_redis_database(redis_url, tmp_path):
    checkouts = [tmp_path / f"checkout{i}" for i in range(10)]
    for checkout in checkouts:
        checkout.mkdir()
    databases = []
    for checkout in checkouts:
        result = checkout_redis_db(redis_url, checkout)
        assert result.returncode == 0, result.stderr
        databases.append(int(result.stdout))
    # Ten checkouts, ten databases, none of those the tests and benchmarks use, nor 0.
    assert sorted(databases) == list(range(1, 11))
    # The same checkout keeps its database.
    assert int(checkout_redis_db(redis_url, checkouts[3]).stdout) == databases[3]
    # An eleventh finds none free...
    (tmp_path / "eleventh").mkdir()
    full = checkout_redis_db(redis_url, tmp_path / "eleventh")
    assert full.returncode != 0 and "REDIS_DB" in full.stderr
    # ...until a checkout is deleted: its database is taken over.
    checkouts[5].rmdir()
    assert int(checkout_redis_db(redis_url, tmp_path / "eleventh").stdout) == databases[5]
    # REDIS_DB chooses by hand.
    assert checkout_redis_db(redis_url, checkouts[0], REDIS_DB="7").stdout.strip() == "7"


def test_run_local_uses_and_prints_the_checkouts_database():
    assert 'REDIS_DB="$(checkout_redis_db)"' in RUN_LOCAL
    assert 'CELERY_BROKER_URL="${REDIS_URL}/${REDIS_DB}"' in RUN_LOCAL
    running = RUN_LOCAL[RUN_LOCAL.index("AccessAdmin is running.") :]
    assert "${REDIS_URL}/${REDIS_DB}" in running


# The build context ------------------------------------------------------------------------------


def glob_to_regex(glob: str) -> str:
    """`*` and `?` stop at a slash, as in Go's filepath.Match."""
    return re.escape(glob).replace(r"\*", "[^/]*").replace(r"\?", "[^/]")


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    patterns = []
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            pattern = line.lstrip("!").strip("/")
            regex = "".join(
                ".*" if part == "**" else glob_to_regex(part)
                for part in re.split(r"(\*\*)", pattern)
            )
            patterns.append((re.compile(regex.replace(".*/", "(.*/)?")), negate))
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for regex, negate in patterns:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def copy_sources() -> list[str]:
    sources = []
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        # COPY --from=<stage> copies out of an earlier stage, not from the build context.
        if line.startswith("COPY ") and "--from=" not in line:
            words = [word for word in line.split()[1:] if not word.startswith("--")]
            sources += words[:-1]
    return sources


def test_what_the_dockerfile_copies_is_in_the_build_context():
    sources = copy_sources()
    assert {"requirements.lock", "accessadmin", "manage.py", "templates"} <= set(sources)
    for source in sources:
        path = REPO_ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        assert files, source
        for file in files:
            relative = file.relative_to(REPO_ROOT).as_posix()
            if "__pycache__" in relative:
                continue
            assert not dockerignore_excludes(relative), f"{relative} is COPYed but excluded"


@pytest.mark.parametrize(
    "path",
    [
        "secrets/audit_key",
        "secrets/postgres_password",
        "accessadmin.env",
        "deploy/accessadmin.env",
        ".env",
        ".venv/bin/python",
        "var/db.sqlite3",
        ".git/config",
        "tests/conftest.py",
        "sandbox/stack.py",
        "benchmarks/lifecycle.py",
        "test-artifacts/report.html",
        "onboarding/__pycache__/models.cpython-311.pyc",
        ".ruff_cache/x",
    ],
)
def test_secrets_state_and_development_files_stay_out_of_the_build_context(path):
    assert dockerignore_excludes(path)


def test_git_ignores_the_deployments_secrets_and_local_state():
    paths = ["accessadmin.env", "secrets/audit_key", "var/db.sqlite3"]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == paths, result.stderr
    # The example the deployment starts from is kept.
    example = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "deploy/accessadmin.env.example"],
        cwd=REPO_ROOT,
    )
    assert example.returncode == 1
