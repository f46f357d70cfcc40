"""Spawner that runs the stand-in single-user server as a local process without an OS user."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from jupyterhub import __version__ as hub_version
from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Unicode, default

from sandbox import process

REPO_ROOT = Path(__file__).resolve().parents[2]


class SandboxSpawner(LocalProcessSpawner):
    """Runs `python -m sandbox.jupyterhub.singleuser` per server, as the hub's own user.

    Each server's pid is also written under `pid_dir`, so the sandbox's stop can end servers
    that a killed hub left behind.
    """

    state_root = Unicode(config=True, help="Folder for per-server working folders and pid files.")

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        return [sys.executable, "-m", "sandbox.jupyterhub.singleuser"]

    @property
    def _slug(self) -> str:
        name = f"{self.user.name}--{self.name or 'default'}"
        return re.sub(r"[^a-zA-Z0-9_.-]", "_", name)

    @property
    def _pid_path(self) -> Path:
        return Path(self.state_root) / "servers" / f"{self._slug}.pid"

    def make_preexec_fn(self, name: str) -> None:  # type: ignore[override]
        # No setuid: there is no OS account behind a hub user here.
        return None

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        home = Path(self.state_root) / "homes" / self._slug
        env["USER"] = self.user.name
        env["SANDBOX_HUB_VERSION"] = hub_version
        env["HOME"] = str(home)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        return env

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        return paths

    async def start(self) -> Any:
        home = Path(self.state_root) / "homes" / self._slug
        home.mkdir(parents=True, exist_ok=True)
        self.popen_kwargs = {**self.popen_kwargs, "cwd": str(home)}
        address = await super().start()
        process.write_pid(self._pid_path, self.pid)
        return address

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        self._pid_path.unlink(missing_ok=True)
