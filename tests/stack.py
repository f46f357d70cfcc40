"""Pytest plugin: the local sandbox stack, started once per test session.

Fixtures:
- `stack`: every service up; returns the endpoints (the names of sandbox/README.md).
- `directory`: only the 389 Directory Server; returns its LDAP_* endpoints.
- `stack_services(*names)`: builds such a fixture for any subset.

All fixtures share one state dir, so asking for `directory` and later for `stack` reuses the
running directory. With ACCESSADMIN_STACK_DIR set, that dir is used and left running at the
end, so a developer can keep one stack up across test runs (`python -m sandbox down
--state-dir DIR` stops it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sandbox import stack as sandbox_stack

STACK_DIR_VARIABLE = "ACCESSADMIN_STACK_DIR"


class SessionStack:
    """One state dir for the whole test session; services are started the first time asked."""

    def __init__(self, state_dir: Path, keep: bool) -> None:
        self.state_dir = state_dir
        self.keep = keep
        self.endpoints: dict[str, str] = {}
        self._started: set[str] = set()

    def ensure(self, services: Sequence[str]) -> dict[str, str]:
        missing = [name for name in services if name not in self._started]
        if missing:
            try:
                self.endpoints, _ = sandbox_stack.up(self.state_dir, missing)
            except sandbox_stack.StackError as error:
                pytest.fail(f"sandbox stack failed in {error.service}:\n{error.reason}")
            self._started.update(missing)
        return dict(self.endpoints)

    def close(self) -> None:
        if self.keep:
            return
        try:
            sandbox_stack.down(self.state_dir)
        finally:
            shutil.rmtree(self.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[SessionStack]:
    """The session's stack state dir; torn down at the end unless ACCESSADMIN_STACK_DIR is set."""
    configured = os.environ.get(STACK_DIR_VARIABLE)
    if configured:
        session = SessionStack(Path(configured).resolve(), keep=True)
    else:
        # Outside pytest's 0700 temp tree: 389-ds runs as dirsrv and must reach its folder.
        state_dir = Path(tempfile.mkdtemp(prefix="accessadmin-stack-"))
        state_dir.chmod(0o755)
        session = SessionStack(state_dir, keep=False)
    yield session
    session.close()


def stack_services(*names: str) -> Callable[..., Any]:
    """A session-scoped fixture that starts just these services and returns the endpoints."""
    services = sandbox_stack.parse_services(",".join(names))

    @pytest.fixture(scope="session")
    def fixture(sandbox_session: SessionStack) -> dict[str, str]:
        return sandbox_session.ensure(services)

    fixture.__doc__ = f"Endpoints with {', '.join(services)} running."
    return fixture


stack = stack_services(*sandbox_stack.SERVICES)
directory = stack_services("directory")
