"""`python -m sandbox up/status/down` as a developer runs it, on a state dir of its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap
import pytest

from sandbox import directory, stack

pytestmark = pytest.mark.stack

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ColdStart:
    state_dir: Path
    result: subprocess.CompletedProcess[str]
    seconds: float


def _sandbox(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _up(state_dir: Path) -> subprocess.CompletedProcess[str]:
    return _sandbox("up", "--state-dir", state_dir, "--services", "directory")


def _new_state_dir() -> Path:
    # Outside pytest's 0700 temp tree: ns-slapd runs as dirsrv and must reach the folder.
    state_dir = Path(tempfile.mkdtemp(prefix="accessadmin-cli-"))
    state_dir.chmod(0o755)
    return state_dir


def _process_exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def cold_start() -> Iterator[ColdStart]:
    state_dir = _new_state_dir()
    began = time.monotonic()
    result = _up(state_dir)
    seconds = time.monotonic() - began
    yield ColdStart(state_dir, result, seconds)
    _sandbox("down", "--state-dir", state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)


def test_up_starts_directory_and_writes_endpoints_for_sh(cold_start: ColdStart) -> None:
    assert cold_start.result.returncode == 0, cold_start.result.stderr
    assert "directory" in cold_start.result.stdout
    env_file = cold_start.state_dir / stack.ENDPOINTS_FILE

    shown = subprocess.run(
        ["sh", "-c", f'. "{env_file}" && printf "%s|%s" "$LDAP_URI" "$LDAP_BIND_DN"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    uri, bind_dn = shown.split("|")
    assert uri.startswith("ldap://127.0.0.1:")
    assert bind_dn == "cn=Directory Manager"
    assert env_file.stat().st_mode & 0o077 == 0


def test_second_up_reuses_the_running_directory(
    cold_start: ColdStart, capsys: pytest.CaptureFixture[str]
) -> None:
    pid_before = int(directory.pid_file(cold_start.state_dir).read_text())

    began = time.monotonic()
    result = _up(cold_start.state_dir)
    warm_seconds = time.monotonic() - began

    assert result.returncode == 0, result.stderr
    assert int(directory.pid_file(cold_start.state_dir).read_text()) == pid_before
    with capsys.disabled():
        print(
            f"\nsandbox up --services directory: cold {cold_start.seconds:.1f} s, "
            f"warm {warm_seconds:.1f} s"
        )


def test_status_lists_the_directory_as_up(cold_start: ColdStart) -> None:
    result = _sandbox("status", "--state-dir", cold_start.state_dir)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split()[:2] == ["directory", "up"]


def test_up_after_down_brings_back_the_same_data(cold_start: ColdStart) -> None:
    assert _up(cold_start.state_dir).returncode == 0
    endpoints = stack.read_endpoints(cold_start.state_dir)
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    group_dn = f"cn=kept,cn=groups,cn=accounts,{endpoints['LDAP_BASE_DN']}"
    connection.add_s(group_dn, [("objectClass", [b"top", b"nsContainer"]), ("cn", [b"kept"])])
    connection.unbind_s()

    assert _sandbox("down", "--state-dir", cold_start.state_dir).returncode == 0
    assert _up(cold_start.state_dir).returncode == 0

    assert stack.read_endpoints(cold_start.state_dir) == endpoints
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    assert connection.search_s(group_dn, ldap.SCOPE_BASE)[0][0] == group_dn
    connection.unbind_s()


def test_down_leaves_no_process_behind(cold_start: ColdStart) -> None:
    assert _up(cold_start.state_dir).returncode == 0
    pids = stack.running_pids(cold_start.state_dir)
    assert pids, "up left no pid files to check"

    result = _sandbox("down", "--state-dir", cold_start.state_dir)

    assert result.returncode == 0, result.stderr
    assert [pid for pid in pids.values() if _process_exists(pid)] == []
    assert stack.running_pids(cold_start.state_dir) == {}
    assert _sandbox("status", "--state-dir", cold_start.state_dir).returncode != 0


def test_failed_up_names_the_service_and_exits_non_zero() -> None:
    # ns-slapd cannot enter a 0700 folder, so the directory cannot be created under it.
    hidden = Path(tempfile.mkdtemp(prefix="accessadmin-cli-hidden-"))
    try:
        result = _up(hidden / "state")

        assert result.returncode == 1
        assert "failed in directory" in result.stderr
        assert "dirsrv" in result.stderr
    finally:
        _sandbox("down", "--state-dir", hidden / "state")
        shutil.rmtree(hidden, ignore_errors=True)
