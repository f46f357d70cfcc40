"""moto's server with its state kept in a file, so a restarted moto still has every id it gave out.

Run as `python -m sandbox.aws_server --port PORT --state-file DIR/aws/state.pickle`.

moto keeps its resources as Python objects in per-service backends. After every request that
can change them, the backends of the service it names are pickled and, when they changed,
written with the other services' earlier pickles to the state file before the answer goes
out; a new server loads them back before it listens. Ids are part of the objects, so they stay
exactly as they were (replaying requests would draw new random ids).
The AWS managed policies, megabytes that every moto of this version loads alike, are saved as
references and rebuilt on load.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import pickle
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import moto
from moto.backends import get_backend
from moto.core.base_backend import BackendDict
from moto.iam.models import AWSManagedPolicy, IAMBackend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

from sandbox import aws_fidelity, process
from sandbox.aws_throttle import ThrottledApp, service_of

log = logging.getLogger("sandbox.aws_server")

# 2: each service pickled on its own; 1 (all at once) is still read, and saved over as 2.
_FORMAT = 2
_READ_ACTION = re.compile(r"(Get|List|Describe)[A-Z]")
# The services a request's SigV4 scope names, as the moto backends that hold their state.
_BACKENDS = {"iam": ("iam",), "elasticfilesystem": ("efs",), "sts": ("sts",)}
# service -> account id -> region (or partition, for IAM) -> backend
State = dict[str, dict[str, dict[str, Any]]]


class StateFileError(RuntimeError):
    """The state file cannot be loaded into this moto; the message says why and what to do."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.aws_server", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-file", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    aws_fidelity.apply()
    restore(args.state_file)
    app = ThrottledApp(
        PersistentApp(DomainDispatcherApplication(create_backend_app), args.state_file),
        reads_only,
    )
    run_simple(
        process.LOOPBACK,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


class PersistentApp:
    """moto's WSGI app, answering one request at a time and saving the state before each answer.

    One at a time, because pickling while another request changes a backend would fail or save
    half a change; moto answers in milliseconds, so the stand-in stays fast enough. Requests that
    only read (GET, or a Get/List/Describe action) skip the save: pickling costs more the more
    moto holds, and these are most of AccessAdmin's calls. A write pickles only the backends of
    the service it names (its SigV4 scope), the others' pickles are kept from before; a request
    naming no known service (moto's own API: a reset) pickles them all.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], state_file: Path) -> None:
        self._app = app
        self._state_file = state_file
        self._lock = threading.Lock()
        self._pickled = _saved_pickles(state_file)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        # Before moto runs: it consumes the body that names the action.
        reads = reads_only(environ)
        services = _BACKENDS.get(service_of(environ))
        with self._lock:
            answer = self._app(environ, start_response)
            try:
                body = list(answer)
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
            if not reads:
                self._save(services)
        return body

    def _save(self, services: tuple[str, ...] | None) -> None:
        state = current_state()
        pickled = {
            service: (
                self._pickled[service]
                if services is not None and service not in services and service in self._pickled
                else _StatePickler.dumps({service: accounts})
            )
            for service, accounts in state.items()
        }
        if pickled == self._pickled:
            return
        # Written aside and renamed, so a kill mid-write leaves the previous state whole.
        partial = self._state_file.with_name(self._state_file.name + ".partial")
        partial.write_bytes(_header() + pickle.dumps(pickled, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, self._state_file)
        self._pickled = pickled


def reads_only(environ: dict[str, Any]) -> bool:
    """Whether a request can only read: by its HTTP method, or by the AWS action it names."""
    if environ["REQUEST_METHOD"] in ("GET", "HEAD", "OPTIONS"):
        return True
    return _READ_ACTION.match(_action(environ)) is not None


def _action(environ: dict[str, Any]) -> str:
    """The action of a JSON API (X-Amz-Target) or a query API (Action=, in URL or form)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rpartition(".")[2]
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return ""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    # Put the body back for moto, which reads it after us.
    environ["wsgi.input"] = io.BytesIO(body)
    form = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
    return form.get("Action", [""])[0]


def current_state() -> State:
    """Every backend moto has created so far."""
    return {
        backends.service_name: {
            account_id: dict(regions) for account_id, regions in backends.items()
        }
        for backends in BackendDict._instances
    }


def _header() -> bytes:
    return pickle.dumps({"format": _FORMAT, "moto": moto.__version__})


def _saved_pickles(state_file: Path) -> dict[str, bytes]:
    """Each service's pickle as the state file holds it (nothing if there is none)."""
    if not state_file.exists():
        return {}
    with state_file.open("rb") as saved:
        if _check_header(saved, state_file) != _FORMAT:
            return {}
        return pickle.load(saved)  # noqa: S301 - written by this module, inside the state dir


def restore(state_file: Path) -> None:
    """Put the backends saved in state_file (if any) in place of moto's empty ones."""
    if not state_file.exists():
        log.info("no saved state at %s; moto starts empty", state_file)
        return
    with state_file.open("rb") as saved:
        state = _load(saved, state_file)
    for service, accounts in state.items():
        backends = get_backend(service)  # type: ignore[arg-type]
        for account_id, regions in accounts.items():
            for region, backend in regions.items():
                backends[account_id][region] = backend
    log.info("restored %s from %s", ", ".join(sorted(state)) or "nothing", state_file)


def _check_header(saved: IO[bytes], state_file: Path) -> int:
    """The file's format, once its header says it is one this moto reads."""
    header = pickle.load(saved)  # noqa: S301 - written by this module, inside the state dir
    if header not in ({"format": each, "moto": moto.__version__} for each in (1, _FORMAT)):
        raise StateFileError(
            f"{state_file} was saved by {header}, not moto {moto.__version__}; "
            f"remove it to start moto empty (its file system and roles are then lost)"
        )
    return header["format"]


def _load(saved: IO[bytes], state_file: Path) -> State:
    if _check_header(saved, state_file) == 1:
        return _StateUnpickler(saved).load()
    pickled = pickle.load(saved)  # noqa: S301 - written by this module, inside the state dir
    state: State = {}
    for each in pickled.values():
        state.update(_StateUnpickler(io.BytesIO(each)).load())
    return state


class _StatePickler(pickle.Pickler):
    """Pickles backends, leaving out what moto rebuilds alike on every start."""

    def __init__(self, file: IO[bytes], iam_backends: list[IAMBackend]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._aws_policy_lists = {id(b.aws_managed_policies): b for b in iam_backends}
        self._policy_dicts = {id(b.managed_policies): b for b in iam_backends}

    @classmethod
    def dumps(cls, state: State) -> bytes:
        iam_backends = [
            backend for accounts in state.get("iam", {}).values() for backend in accounts.values()
        ]
        buffer = io.BytesIO()
        cls(buffer, iam_backends).dump(state)
        return buffer.getvalue()

    def persistent_id(self, obj: Any) -> tuple[Any, ...] | None:
        if isinstance(obj, AWSManagedPolicy):
            # An attached AWS policy: its id and attachment count are the only parts that vary.
            return (
                "aws-policy",
                obj.account_id,
                obj.partition,
                obj.arn,
                obj.id,
                obj.attachment_count,
            )
        if isinstance(obj, BackendDict):
            return ("backends", obj.service_name)
        backend = self._aws_policy_lists.get(id(obj))
        if backend is not None:
            return ("aws-policy-list", backend.account_id, backend.partition)
        backend = self._policy_dicts.get(id(obj))
        if backend is not None:
            own = {
                arn: policy
                for arn, policy in obj.items()
                if not isinstance(policy, AWSManagedPolicy)
            }
            return ("policy-dict", backend.account_id, backend.partition, own)
        return None


class _StateUnpickler(pickle.Unpickler):
    """Loads what _StatePickler wrote, rebuilding the AWS managed policies of each partition."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file)
        self._aws_policies: dict[tuple[str, str], list[AWSManagedPolicy]] = {}

    def persistent_load(self, pid: tuple[Any, ...]) -> Any:
        kind, *fields = pid
        if kind == "aws-policy":
            account_id, partition, arn, policy_id, attachment_count = fields
            policy = self._aws_policy(account_id, partition, arn)
            policy.id = policy_id
            policy.attachment_count = attachment_count
            return policy
        if kind == "backends":
            return get_backend(fields[0])
        if kind == "aws-policy-list":
            return self._aws_policy_list(*fields)
        if kind == "policy-dict":
            account_id, partition, own = fields
            aws = {policy.arn: policy for policy in self._aws_policy_list(account_id, partition)}
            return {**aws, **own}
        raise pickle.UnpicklingError(f"unknown reference {kind!r} in the moto state")

    def _aws_policy_list(self, account_id: str, partition: str) -> list[AWSManagedPolicy]:
        key = (account_id, partition)
        if key not in self._aws_policies:
            # IAM backends are keyed by partition; a new one loads this moto's AWS policies.
            self._aws_policies[key] = IAMBackend(partition, account_id).aws_managed_policies
        return self._aws_policies[key]

    def _aws_policy(self, account_id: str, partition: str, arn: str) -> AWSManagedPolicy:
        for policy in self._aws_policy_list(account_id, partition):
            if policy.arn == arn:
                return policy
        raise pickle.UnpicklingError(f"moto {moto.__version__} has no AWS policy {arn}")


if __name__ == "__main__":
    main()
