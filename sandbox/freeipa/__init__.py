"""FreeIPA stand-in: FreeIPA's JSON-RPC API over HTTPS, with all state in the 389-ds directory."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

from .. import process
from .bootstrap import ensure
from .certs import ensure_certificates
from .passwords import DEFAULT_GRACE_LIMIT, MAX_GRACE_LIMIT, UNLIMITED_GRACE
from .store import Directory
from .tree import Tree

REALM = "EXAMPLE.TEST"
HOST = "localhost"
START_TIMEOUT_SECONDS = 30
_REPO_ROOT = Path(__file__).resolve().parents[2]


def _folder(state_dir: Path) -> Path:
    return Path(state_dir) / "freeipa"


def tree_for(endpoints: dict[str, str]) -> Tree:
    """The FreeIPA layout in the directory named by LDAP_* endpoints."""
    directory = Directory(
        endpoints["LDAP_URI"],
        endpoints["LDAP_BIND_DN"],
        endpoints["LDAP_BIND_PASSWORD"],
        endpoints["LDAP_BASE_DN"],
    )
    return Tree(directory, REALM)


def start(state_dir: Path, endpoints: dict[str, str]) -> dict[str, str]:
    """Start the stand-in (or reuse a running one) and return its FREEIPA_* endpoints."""
    folder = _folder(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ensure_certificates(folder)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config.setdefault("admin_password", secrets.token_urlsafe(18))
    # The global policy's grace limit, set again at every start (see README, expired passwords).
    config.setdefault("password_grace_limit", DEFAULT_GRACE_LIMIT)
    grace_limit = _grace_limit(config, config_path)
    config.update(
        host=HOST,
        realm=REALM,
        ldap_uri=endpoints["LDAP_URI"],
        bind_dn=endpoints["LDAP_BIND_DN"],
        bind_password=endpoints["LDAP_BIND_PASSWORD"],
        base_dn=endpoints["LDAP_BASE_DN"],
    )
    pid_path = pid_file(state_dir)
    running = (
        process.pid_alive(pid_path) and "port" in config and process.port_answers(config["port"])
    )
    if not running:
        process.stop_process(pid_path)
        config["port"] = _port(config, config_path)
    config_path.write_text(json.dumps(config, indent=2))
    config_path.chmod(0o600)
    ensure(tree_for(endpoints), config["admin_password"], grace_limit)
    if not running:
        process.start_process(
            [sys.executable, "-m", "sandbox.freeipa.server", "--state-dir", folder],
            log_path=folder / "server.log",
            pid_path=pid_path,
            cwd=_REPO_ROOT,
        )
        process.wait_for_http(
            f"https://{HOST}:{config['port']}/ipa/session/json",
            START_TIMEOUT_SECONDS,
            verify=str(folder / "ca.pem"),
        )
    return {
        "FREEIPA_HOST": f"{HOST}:{config['port']}",
        "FREEIPA_CA_FILE": str(folder / "ca.pem"),
        "FREEIPA_USERNAME": "admin",
        "FREEIPA_PASSWORD": config["admin_password"],
        "FREEIPA_REALM": REALM,
    }


def stop(state_dir: Path) -> None:
    """Stop the server process; the directory keeps the state."""
    process.stop_process(pid_file(state_dir))


def pid_file(state_dir: Path) -> Path:
    """Where the server records its pid while it runs."""
    return _folder(state_dir) / "server.pid"


def _grace_limit(config: dict[str, Any], config_path: Path) -> int:
    value = config["password_grace_limit"]
    if type(value) is not int or not UNLIMITED_GRACE <= value <= MAX_GRACE_LIMIT:
        raise ValueError(
            f"{config_path}: password_grace_limit must be an integer from {UNLIMITED_GRACE} "
            f"(unlimited) to {MAX_GRACE_LIMIT}, not {value!r}"
        )
    return value


def _port(config: dict[str, Any], config_path: Path) -> int:
    """The port the stand-in had before (checked free), or a new one on its first start."""
    if "port" not in config:
        return process.free_port()
    process.require_port_free(config["port"], service="freeipa", recorded_in=config_path)
    return config["port"]
