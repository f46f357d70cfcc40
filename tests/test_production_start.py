"""docker-compose's app services, started for real as its file says, with the example production
settings (deploy/accessadmin.env.example) and every secret as a file: their health checks pass.

Docker cannot run here, so each service's command and health check are read from
docker-compose.yml and run directly, on 127.0.0.1 only, with these changes and no others:
gunicorn binds 127.0.0.1 on a free port (the probe asks that port), `/run/secrets/<name>` and the
CA certificate are files in a temporary folder, the backends are PostgreSQL and Redis on
127.0.0.1 (DATABASE_URL's database, Redis db 10, which has no password: REDIS_PASSWORD_FILE is
left out), and DATABASE_APP_ROLE is left empty (the role is made by the postgres image's script).
"""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

from tests.conftest import REPO_ROOT

VENV_BIN = Path(sys.executable).parent
BROKER_URL = "redis://127.0.0.1:6379/10"
CA_FILE = "/etc/ssl/certs/ca-certificates.crt"


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def example_settings() -> dict[str, str]:
    example = (REPO_ROOT / "deploy" / "accessadmin.env.example").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(.*)$", example, flags=re.MULTILINE))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shell_command(healthcheck: dict) -> list[str]:
    """A compose health check as a command line: CMD as is, CMD-SHELL through sh, with compose's
    `$$` (a literal `$`) unescaped."""
    kind, *rest = healthcheck["test"]
    rest = [part.replace("$$", "$") for part in rest]
    return rest if kind == "CMD" else ["sh", "-c", rest[0]]


@pytest.fixture(scope="module")
def production_database() -> Iterator[str]:
    """A database of its own on DATABASE_URL's server, made and dropped here."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        pytest.skip("DATABASE_URL names no PostgreSQL database for the production settings")
    server = urlsplit(database_url)
    name = f"accessadmin_production_{secrets.token_hex(4)}"
    admin = server._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def production_env(tmp_path_factory, production_database) -> dict[str, str]:
    database_url = production_database
    folder = tmp_path_factory.mktemp("production")
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        **example_settings(),
    }
    values = {
        "secret_key": secrets.token_urlsafe(60),
        "audit_key": secrets.token_urlsafe(40),
        "metrics_token": secrets.token_urlsafe(40),
    }
    for name, value in compose()["x-app"]["environment"].items():
        if value.startswith("/run/secrets/"):
            secret = folder / value.removeprefix("/run/secrets/")
            secret.write_text(values.get(secret.name, secrets.token_urlsafe(24)) + "\n")
            value = str(secret)
        elif value == "/etc/ipa/ca.crt":
            value = CA_FILE
        elif name == "AUDIT_HEAD_FILE":
            value = str(folder / "audit" / "head.log")
            (folder / "audit").mkdir()
        env[name] = value
    del env["REDIS_PASSWORD_FILE"]  # Redis on 127.0.0.1 asks for none
    if urlsplit(database_url).password:
        del env["DATABASE_PASSWORD_FILE"]
    env.update(
        DATABASE_URL=database_url,
        DATABASE_APP_ROLE="",
        CELERY_BROKER_URL=BROKER_URL,
    )
    # What the migrate service does first (as the owner, here the same connection).
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    return env


class Service:
    """A compose service's command, running here until stopped."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.output = log.open("w")
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.output.close()

    def tail(self) -> str:
        return self.log.read_text()[-3000:]


def healthcheck_run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def healthy_within(command, env, service: Service, seconds: float) -> subprocess.CompletedProcess:
    deadline = time.monotonic() + seconds
    while True:
        result = healthcheck_run(command, env)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result
        assert service.process.poll() is None, f"the service died:\n{service.tail()}"
        time.sleep(1)


def raw_get(port: int, path: str, host: str | None) -> str:
    """The status line and headers of a plain-HTTP GET, with exactly this Host header."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        host_line = f"Host: {host}\r\n" if host is not None else ""
        conn.sendall(f"GET {path} HTTP/1.0\r\n{host_line}\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer.decode(errors="replace").split("\r\n\r\n")[0]


def test_web_starts_as_compose_does_and_its_health_check_passes(production_env, tmp_path):
    web = compose()["services"]["web"]
    port = free_port()
    command = list(web["command"])
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    probe = shell_command(web["healthcheck"])
    probe[probe.index("--port") + 1] = str(port)

    service = Service(command, production_env, tmp_path / "web.log")
    try:
        result = healthy_within(probe, production_env, service, 60)
        assert result.returncode == 0, result.stdout + result.stderr + service.tail()

        # Nothing else was weakened: a stranger's Host is refused, every other page still
        # redirects plain HTTP to HTTPS, and the probe refuses a redirect.
        host = production_env["ALLOWED_HOSTS"].split(",")[0]
        assert raw_get(port, "/healthz", "127.0.0.1").split()[1] == "400"
        login = raw_get(port, "/login/", host)
        assert login.split()[1] == "301" and f"Location: https://{host}/login/" in login
        assert raw_get(port, "/healthz", host).split()[1] == "200"
    finally:
        service.stop()
    assert healthcheck_run(probe, production_env).returncode != 0, "passes with no web running"


def test_worker_and_beat_start_as_compose_does_and_their_health_checks_pass(
    production_env, tmp_path
):
    services = compose()["services"]
    env = {**production_env, "HOSTNAME": socket.gethostname()}  # as Docker sets it
    beat_command = list(services["beat"]["command"])
    beat_command[beat_command.index("--schedule") + 1] = str(tmp_path / "celerybeat-schedule")
    worker_probe = shell_command(services["worker"]["healthcheck"])
    beat_probe = shell_command(services["beat"]["healthcheck"])
    assert "$HOSTNAME" in worker_probe[-1] and "$HOSTNAME" in beat_probe[-1]

    worker = Service(services["worker"]["command"], env, tmp_path / "worker.log")
    beat = None
    try:
        result = healthy_within(worker_probe, env, worker, 90)
        assert result.returncode == 0, result.stdout + result.stderr + worker.tail()
        assert f"celery@{socket.gethostname()}: OK" in result.stdout

        beat = Service(beat_command, env, tmp_path / "beat.log")
        result = healthy_within(beat_probe, env, beat, 90)
        assert result.returncode == 0, result.stdout + result.stderr + beat.tail()
        assert f"celerybeat@{socket.gethostname()}: OK" in result.stdout

        beat.stop()
        assert healthcheck_run(beat_probe, env).returncode != 0, "passes with no beat running"
    finally:
        if beat is not None:
            beat.stop()
        worker.stop()
    assert healthcheck_run(worker_probe, env).returncode != 0, "passes with no worker running"


def test_deploy_check_passes_with_the_example_settings(production_env):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT, env=production_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_backup_script_writes_a_whole_dump(production_env, tmp_path):
    database = urlsplit(production_env["DATABASE_URL"])
    env = {
        **production_env,
        "PGHOST": database.hostname,
        "PGPORT": str(database.port or 5432),
        "PGUSER": database.username,
        "PGDATABASE": database.path.lstrip("/"),
        "BACKUP_DIR": str(tmp_path),
    }
    if database.password:
        env["PGPASSWORD"] = database.password
    result = subprocess.run(
        ["sh", str(REPO_ROOT / "deploy" / "backup.sh"), "once"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (dump,) = tmp_path.glob("accessadmin-*.dump")
    listing = subprocess.run(
        ["pg_restore", "--list", str(dump)], capture_output=True, text=True, timeout=60
    )
    assert "onboarding_auditevent" in listing.stdout
    assert not list(tmp_path.glob("*.partial"))
