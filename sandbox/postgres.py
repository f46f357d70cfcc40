"""A PostgreSQL cluster of its own under STATE_DIR/postgres/, where people log in over LDAP against
the sandbox directory, the way a database with `ldap` in pg_hba.conf authenticates FreeIPA users.

AccessAdmin administers it as `accessadmin`, a role with CREATEROLE and pg_signal_backend but not
a superuser, so a right it lacks is refused by PostgreSQL itself. Roles in `sandbox_passwords`
(the administering role, and any a test makes to administer with fewer rights) log in with a
password; everyone else through the directory. The superuser is reachable only over the cluster's
own socket, for setting it up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from sandbox import process

log = logging.getLogger(__name__)

# The newest server Debian's postgresql package installed (15 on Debian 12), so a newer release
# of the package does not break the local stack.
_INSTALLED = sorted(
    Path("/usr/lib/postgresql").glob("*/bin"), key=lambda found: int(found.parent.name)
)
BIN = _INSTALLED[-1] if _INSTALLED else Path("/usr/lib/postgresql/15/bin")
# initdb and postgres refuse to run as root.
OS_USER = "postgres"
SUPERUSER = "postgres"
ADMIN_ROLE = "accessadmin"
PASSWORD_GROUP = "sandbox_passwords"
DATABASE = "platform"
_START_TIMEOUT = 30.0


def start(state_dir: Path, endpoints: dict[str, str]) -> dict[str, str]:
    """Start (creating it on first use) the cluster and return its POSTGRES_* endpoints."""
    if "LDAP_URI" not in endpoints:
        raise RuntimeError("postgres authenticates people against the directory: start it first")
    root = state_dir / "postgres"
    if not (root / "created").exists():
        _create(root, endpoints)
    elif not process.pid_alive(pid_file(state_dir)):
        port = int((root / "port").read_text())
        _leftovers_end(root)
        process.require_port_free(port, service="postgres", recorded_in=root / "port")
        _launch(root)
    else:
        _wait_until_answering(root)
    return _endpoints(root)


def stop(state_dir: Path) -> None:
    """A fast shutdown (open sessions are ended, as SIGTERM's smart one would wait for them)."""
    path = pid_file(state_dir)
    pid = process.read_pid(path)
    if pid is not None and process.pid_alive(path):
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 15
        while process.pid_alive(path) and time.monotonic() < deadline:
            time.sleep(0.1)
    process.stop_process(path, timeout=10)


def pid_file(state_dir: Path) -> Path:
    return state_dir / "postgres" / "postgres.pid"


def superuser_connect(state_dir: Path) -> psycopg.Connection:
    """The cluster's superuser over its own socket: for the sandbox's set-up and tests' checks."""
    return _superuser(state_dir / "postgres", DATABASE)


def _leftovers_end(root: Path) -> None:
    """After the server died, its own children (checkpointer, sessions) may live on and its lock
    file stays: both would stop a new server, so they go first."""
    old = process.read_pid(root / "postgres.pid")
    deadline = time.monotonic() + 10
    while old is not None and time.monotonic() < deadline:
        left = _cluster_processes(old)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(old, os.WNOHANG)
        time.sleep(0.1)
    (root / "data" / "postmaster.pid").unlink(missing_ok=True)
    for lock in (root / "run").glob(".s.PGSQL.*"):
        lock.unlink(missing_ok=True)


def _cluster_processes(group: int) -> list[int]:
    """The live postgres processes of the server's process group (its leader was the server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, rest = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        if name.endswith("(postgres") and fields[0] != "Z" and int(fields[2]) == group:
            found.append(int(entry.name))
    return found


def _port(root: Path) -> int:
    return int((root / "port").read_text())


def _as_postgres(argv: list[str | os.PathLike[str]]) -> list[str]:
    return [
        "setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--clear-groups",
        *(os.fspath(arg) for arg in argv),
    ]  # fmt: skip


def _create(root: Path, endpoints: dict[str, str]) -> None:
    started = time.monotonic()
    if root.exists():
        shutil.rmtree(root)
    user = pwd.getpwnam(OS_USER)
    root.mkdir(mode=0o755)
    for folder in (root / "data", root / "run"):
        folder.mkdir(mode=0o700)
        os.chown(folder, user.pw_uid, user.pw_gid)
    (root / "port").write_text(f"{process.free_port()}\n")
    password = secrets.token_urlsafe(24)
    (root / "admin-password").touch(mode=0o600)
    (root / "admin-password").write_text(password + "\n")
    result = subprocess.run(
        _as_postgres([BIN / "initdb", "-D", root / "data", "-U", SUPERUSER, "-E", "UTF8",
                      "--no-locale", "--auth=reject"]),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
    hba = root / "data" / "pg_hba.conf"
    hba.write_text(_hba(endpoints))
    os.chown(hba, user.pw_uid, user.pw_gid)
    _launch(root)
    _roles_make(root, password)
    (root / "created").write_text("")
    log.info("created a PostgreSQL cluster in %s (%.1f s)", root, time.monotonic() - started)


def _hba(endpoints: dict[str, str]) -> str:
    ldap_port = endpoints["LDAP_URI"].rsplit(":", 1)[1].strip("/")
    users = f"cn=users,cn=accounts,{endpoints['LDAP_BASE_DN']}"
    return (
        "# TYPE  DATABASE  USER  ADDRESS  METHOD\n"
        f"local all {SUPERUSER} trust\n"
        f"host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n"
        # Simple-bind mode: the person's DN is made from their role name, as FreeIPA names users.
        f"host all all 127.0.0.1/32 ldap ldapserver=127.0.0.1 ldapport={ldap_port} "
        f'ldapprefix="uid=" ldapsuffix=",{users}"\n'
    )


def _launch(root: Path) -> None:
    process.start_process(
        _as_postgres([
            BIN / "postgres", "-D", root / "data", "-p", str(_port(root)),
            "-k", root / "run", "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "unix_socket_permissions=0700", "-c", "log_connections=on",
        ]),
        log_path=root / "postgres.log", pid_path=root / "postgres.pid",
    )  # fmt: skip
    _wait_until_answering(root)


def _wait_until_answering(root: Path) -> None:
    """Until the server takes a session: its port alone opens before it may still give up."""
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        try:
            _superuser(root, "postgres").close()
            return
        except psycopg.OperationalError as error:
            if not process.pid_alive(root / "postgres.pid"):
                raise RuntimeError("postgres exited while starting; see postgres.log") from None
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"postgres did not answer within {_START_TIMEOUT:g} s: {error}"
                ) from None
        time.sleep(0.1)


def _superuser(root: Path, database: str) -> psycopg.Connection:
    return psycopg.connect(
        host=str(root / "run"), port=_port(root), user=SUPERUSER, dbname=database,
        autocommit=True, connect_timeout=5,
    )  # fmt: skip


def _roles_make(root: Path, password: str) -> None:
    with _superuser(root, "postgres") as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        connection.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(PASSWORD_GROUP)))
        connection.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {} IN ROLE {}, pg_signal_backend")
            .format(sql.Identifier(ADMIN_ROLE), sql.Literal(password),
                    sql.Identifier(PASSWORD_GROUP))
        )  # fmt: skip

    with _superuser(root, DATABASE) as connection:
        # People make their own tables there, as on a platform's shared database.
        connection.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")


def _endpoints(root: Path) -> dict[str, str]:
    return {
        "POSTGRES_ACCESS_URL": f"postgres://{ADMIN_ROLE}@127.0.0.1:{_port(root)}/{DATABASE}",
        "POSTGRES_ACCESS_PASSWORD": (root / "admin-password").read_text().strip(),
    }
