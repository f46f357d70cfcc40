"""Bring the sandbox services up and down together, in order, under one state dir."""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import re
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from sandbox import process

log = logging.getLogger(__name__)

# Start order; each service receives the endpoints of those before it.
SERVICES = ("directory", "freeipa", "aws", "jupyterhub", "postgres")

ENDPOINTS_FILE = "endpoints.env"
_RECORD_FILE = "stack.json"
_LOCK_FILE = ".stack.lock"
# Where each service can be reached, for the summary and `status`.
_ADDRESS_ENDPOINT = {
    "directory": "LDAP_URI",
    "freeipa": "FREEIPA_HOST",
    "aws": "AWS_ENDPOINT_URL",
    "jupyterhub": "JUPYTERHUB_URL",
    "postgres": "POSTGRES_ACCESS_URL",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STOP_GRACE_SECONDS = 10


class StackError(RuntimeError):
    """A service failed to start or stop; the message names it and carries its log tail."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


@dataclass(frozen=True)
class ServiceStart:
    name: str
    address: str
    seconds: float


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    running: bool
    answering: bool

    @property
    def up(self) -> bool:
        # A port that answers without our process behind it belongs to someone else.
        return self.running and self.answering


def parse_services(text: str | None) -> tuple[str, ...]:
    """Turn 'a,b' into the services in start order; None or '' means all of them."""
    if not text:
        return SERVICES
    wanted = {name.strip() for name in text.split(",") if name.strip()}
    unknown = wanted - set(SERVICES)
    if unknown:
        raise ValueError(
            f"unknown service(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}"
        )
    return tuple(name for name in SERVICES if name in wanted)


def up(
    state_dir: Path, services: Sequence[str] = SERVICES
) -> tuple[dict[str, str], list[ServiceStart]]:
    """Start the given services (reusing running ones); return all endpoints and timings.

    Endpoints of services started by an earlier `up` on the same dir are kept, so services
    can be added one at a time.
    """
    state_dir = _prepare_state_dir(state_dir)
    with _locked(state_dir):
        record = _read_record(state_dir)
        endpoints = _read_endpoints(state_dir) if record else {}
        starts: list[ServiceStart] = []
        for name in parse_services(",".join(services)):
            began = time.monotonic()
            start = _service_module(name).start
            try:
                endpoints.update(start(state_dir, dict(endpoints)))
            except Exception as error:
                raise StackError(name, _failure_report(state_dir, name, error)) from error
            finally:
                # Whatever it left running must be stopped by `down`, even after a failure.
                if name not in record:
                    record.append(name)
                    _write_record(state_dir, record)
            seconds = time.monotonic() - began
            starts.append(ServiceStart(name, _address(name, endpoints), seconds))
            log.info("%s ready in %.1f s", name, seconds)
            _write_endpoints(state_dir, endpoints)
        return endpoints, starts


def down(state_dir: Path) -> None:
    """Stop every service started in state_dir, last first, and make sure no process is left.

    Each service's own stop runs first; then any process still recorded in a pid file under
    the state dir is ended (SIGTERM, then SIGKILL after a grace period).
    """
    state_dir = state_dir.resolve()
    if not state_dir.is_dir():
        return
    with _locked(state_dir):
        record = _read_record(state_dir)
        present = [name for name in SERVICES if (state_dir / name).exists()]
        failures: list[str] = []
        for name in reversed([n for n in SERVICES if n in record or n in present]):
            try:
                stop = _service_module(name).stop
            except StackError as error:
                # The pid-file sweep below still ends whatever it left running.
                log.warning("%s", error)
                continue
            try:
                stop(state_dir)
            except Exception as error:
                failures.append(f"{name}: {error}")
                log.warning("stopping %s failed: %s", name, error)
        for pid_path in sorted(state_dir.rglob("*.pid")):
            if process.pid_alive(pid_path):
                log.warning("%s still runs after its service stopped; ending it", pid_path)
            try:
                process.stop_process(pid_path, timeout=_STOP_GRACE_SECONDS)
            except RuntimeError as error:
                failures.append(str(error))
        _write_record(state_dir, [])
        (state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        if failures:
            raise StackError("down", "; ".join(failures))


def status(state_dir: Path) -> list[ServiceStatus]:
    """For each service recorded as started, whether its process runs and its address answers."""
    state_dir = state_dir.resolve()
    endpoints = _read_endpoints(state_dir)
    return [
        ServiceStatus(
            name,
            _address(name, endpoints),
            process.pid_alive(_service_module(name).pid_file(state_dir)),
            _answers(name, endpoints),
        )
        for name in SERVICES
        if name in _read_record(state_dir)
    ]


def running_pids(state_dir: Path) -> dict[Path, int]:
    """Every pid file under state_dir whose process still runs, with its pid."""
    found: dict[Path, int] = {}
    for pid_path in sorted(state_dir.rglob("*.pid")):
        pid = process.read_pid(pid_path)
        if pid is not None and process.pid_alive(pid_path):
            found[pid_path] = pid
    return found


def _prepare_state_dir(state_dir: Path) -> Path:
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    return state_dir


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Serialise up/down on one state dir, so two callers never start the same service."""
    with open(state_dir / _LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _service_module(name: str) -> ModuleType:
    try:
        module = importlib.import_module(f"sandbox.{name}")
    except ImportError as error:
        raise StackError(name, f"cannot load sandbox.{name}: {error}") from error
    missing = [
        verb for verb in ("start", "stop", "pid_file") if not callable(getattr(module, verb, None))
    ]
    if missing:
        raise StackError(
            name, f"sandbox.{name} has no {' or '.join(v + '()' for v in missing)} yet"
        )
    return module


def _read_record(state_dir: Path) -> list[str]:
    try:
        started = json.loads((state_dir / _RECORD_FILE).read_text())["started"]
    except (OSError, ValueError, KeyError):
        return []
    return [name for name in SERVICES if name in started]


def _write_record(state_dir: Path, started: list[str]) -> None:
    _write_atomically(state_dir / _RECORD_FILE, json.dumps({"started": started}) + "\n")


def _write_endpoints(state_dir: Path, endpoints: dict[str, str]) -> None:
    lines = []
    for name, value in endpoints.items():
        if not _NAME.match(name):
            raise ValueError(f"endpoint name {name!r} is not a shell variable name")
        lines.append(f"{name}={shlex.quote(str(value))}\n")
    # Holds generated passwords.
    _write_atomically(state_dir / ENDPOINTS_FILE, "".join(lines), mode=0o600)


def _read_endpoints(state_dir: Path) -> dict[str, str]:
    try:
        text = (state_dir / ENDPOINTS_FILE).read_text()
    except OSError:
        return {}
    endpoints = {}
    for line in text.splitlines():
        name, sep, quoted = line.partition("=")
        if sep and _NAME.match(name):
            words = shlex.split(quoted)
            endpoints[name] = words[0] if words else ""
    return endpoints


def read_endpoints(state_dir: Path) -> dict[str, str]:
    """The endpoints written by the last `up` on state_dir (empty when it is down)."""
    return _read_endpoints(state_dir.resolve())


def _write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    tmp_path = path.with_name(path.name + ".tmp")
    tmp_path.unlink(missing_ok=True)
    tmp_path.touch(mode=mode)
    tmp_path.write_text(text)
    tmp_path.replace(path)


def _address(name: str, endpoints: dict[str, str]) -> str:
    value = endpoints.get(_ADDRESS_ENDPOINT[name], "")
    if name == "freeipa" and value:
        return f"https://{value}"
    return value


def _answers(name: str, endpoints: dict[str, str]) -> bool:
    address = urlsplit(_address(name, endpoints))
    if not address.hostname or not address.port:
        return False
    try:
        return process.port_answers(address.port, address.hostname)
    except ValueError:
        return False


def _failure_report(state_dir: Path, name: str, error: BaseException) -> str:
    report = f"{type(error).__name__}: {error}"
    newest_log = _newest_log(state_dir / name)
    if newest_log is not None:
        lines = newest_log.read_text(errors="replace").splitlines()[-20:]
        if lines and lines[-1] not in report:
            report += f"\n--- last lines of {newest_log} ---\n" + "\n".join(lines)
    return report


def _newest_log(folder: Path) -> Path | None:
    logs = [path for path in folder.rglob("*.log") if path.is_file()] if folder.is_dir() else []
    return max(logs, key=lambda path: path.stat().st_mtime, default=None)
