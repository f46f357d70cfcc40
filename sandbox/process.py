"""Process and port primitives shared by the sandbox services.

Every service runs detached in its own session, records its pid in a file under its state
folder, and is stopped through that file, so `down` works from a different process than `up`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
_POLL_SECONDS = 0.05
PORT_RELEASE_SECONDS = 5.0
# btime in /proc/stat has whole-second resolution.
_START_TIME_SLACK_SECONDS = 2.0
_children: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class PortTakenError(RuntimeError):
    """A service cannot come back on the port it had: another process holds it."""


def recorded_port(port_file: Path) -> int | None:
    """The port a service recorded in port_file when it first started, if any."""
    try:
        return int(port_file.read_text())
    except (OSError, ValueError):
        return None


def require_port_free(port: int, *, service: str, recorded_in: Path) -> None:
    """Raise PortTakenError naming the service unless port can be listened on again.

    Clients keep the endpoints they read at start, so a service that moved would be lost to them.
    """
    # A process killed a moment ago may not have let go of its port yet: give it a little time.
    deadline = time.monotonic() + PORT_RELEASE_SECONDS
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the servers do: a port whose old connections linger in TIME_WAIT is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((LOOPBACK, port))
                return
            except OSError as error:
                if time.monotonic() < deadline:
                    time.sleep(_POLL_SECONDS * 2)
                    continue
                raise PortTakenError(
                    f"{service} cannot come back on {LOOPBACK}:{port}, the port it had "
                    f"(recorded in {recorded_in}): another process holds it ({error.strerror}). "
                    f"Stop that process and run up again."
                ) from error


def port_answers(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on host:port."""
    _require_loopback(host)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float, host: str = LOOPBACK) -> None:
    """Block until host:port accepts connections; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not port_answers(port, host):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered on {host}:{port} within {timeout:g} s")
        time.sleep(_POLL_SECONDS)


def wait_for_http(
    url: str, timeout: float, verify: bool | str = True, pid_path: Path | None = None
) -> None:
    """Block until `url` returns any HTTP response below 500; raise TimeoutError otherwise.

    `verify` is True (system CAs), False (no certificate check) or the path of a CA file,
    as in requests. With pid_path, stop waiting (RuntimeError) once that process has exited.
    """
    _require_loopback(urlsplit(url).hostname or "")
    context = _ssl_context(verify) if url.startswith("https:") else None
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
                if response.status < 500:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
            last_error = f"HTTP {error.code}"
        except (OSError, ssl.SSLError) as error:
            last_error = str(error)
        if pid_path is not None and not pid_alive(pid_path):
            raise RuntimeError(f"the process of {pid_path} exited before {url} answered")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:g} s ({last_error})")
        time.sleep(_POLL_SECONDS * 2)


def start_process(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    pid_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start argv detached in its own session, output appended to log_path; return its pid.

    The pid is written to pid_path. The process outlives the caller and is its own process
    group leader, so stop_process can end it together with any children it forks.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [os.fspath(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    # Held so Popen does not warn about a running child when collected; state lives in pid_path.
    _children[process.pid] = process
    write_pid(pid_path, process.pid)
    log.debug("started %s as pid %d", argv[0], process.pid)
    return process.pid


def write_pid(pid_path: Path, pid: int) -> None:
    """Write pid to pid_path atomically."""
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = pid_path.with_name(pid_path.name + ".tmp")
    tmp_path.write_text(f"{pid}\n")
    tmp_path.replace(pid_path)


def read_pid(pid_path: Path) -> int | None:
    """The pid recorded in pid_path, or None when the file is missing or unreadable."""
    try:
        return int(pid_path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid_path: Path) -> bool:
    """Whether the process recorded in pid_path still runs (and is the one recorded)."""
    pid = read_pid(pid_path)
    return pid is not None and _recorded_process_alive(pid, pid_path)


def stop_process(pid_path: Path, timeout: float = 10) -> None:
    """Stop the process recorded in pid_path and its process group, then remove the pid file.

    SIGTERM first; SIGKILL if it is still there after `timeout` seconds. Raises RuntimeError
    if it survives SIGKILL.
    """
    pid = read_pid(pid_path)
    if pid is None or not _recorded_process_alive(pid, pid_path):
        pid_path.unlink(missing_ok=True)
        return
    group = pid if _process_group(pid) == pid else None
    _signal(pid, group, signal.SIGTERM)
    if not _wait_gone(pid, group, timeout):
        log.warning("pid %d ignored SIGTERM for %g s; sending SIGKILL", pid, timeout)
        _signal(pid, group, signal.SIGKILL)
        if not _wait_gone(pid, group, 5):
            raise RuntimeError(f"pid {pid} from {pid_path} survived SIGKILL")
    pid_path.unlink(missing_ok=True)


def _require_loopback(host: str) -> None:
    if host not in _LOOPBACK_NAMES:
        raise ValueError(f"the sandbox only talks to loopback, not {host!r}")


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=verify)


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _reap(pid: int) -> None:
    """Collect the exit status if pid is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _running(pid: int) -> bool:
    fields = _proc_stat(pid)
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):
        _reap(pid)
        return False
    return True


def _recorded_process_alive(pid: int, pid_path: Path) -> bool:
    if not _running(pid):
        return False
    started = _start_time(pid)
    try:
        recorded = pid_path.stat().st_mtime
    except OSError:
        return False
    # A process that began after the pid file was written reuses the number; it is not ours.
    return started is None or started <= recorded + _START_TIME_SLACK_SECONDS


def _start_time(pid: int) -> float | None:
    fields = _proc_stat(pid)
    if fields is None:
        return None
    try:
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        return None
    # Field 22 of stat (starttime) is the 20th after the command name, in clock ticks.
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _group_alive(group: int) -> bool:
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return any(
        (fields := _proc_stat(pid)) is not None
        and fields[0] not in ("Z", "X")
        and int(fields[2]) == group
        for pid in pids
    )


def _signal(pid: int, group: int | None, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group is not None:
            os.killpg(group, signum)
        else:
            os.kill(pid, signum)


def _wait_gone(pid: int, group: int | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid) or (group is not None and _group_alive(group)):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True
