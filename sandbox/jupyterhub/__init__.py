"""JupyterHub 6 behind the real configurable-http-proxy, with LDAP logins and local servers.

The hub runs from the venv with a config generated under DIR/jupyterhub; it starts the proxy
itself. A service `accessadmin` holds the API token that AccessAdmin uses.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from sandbox import process

log = logging.getLogger(__name__)

# Exact pin: the proxy is fetched from npm, so a fresh machine gets what the tests ran against.
PROXY_PACKAGE = "configurable-http-proxy@5.1.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PROXY_PREFIX = REPO_ROOT / ".venv" / "chp"
INSTALL_COMMAND = f"python -m sandbox.jupyterhub install-proxy --prefix {DEFAULT_PROXY_PREFIX}"
SERVICE_NAME = "accessadmin"
SERVICE_SCOPES = [
    "admin:users",
    "admin:groups",
    "admin:servers",
    "list:users",
    "list:groups",
    "read:users",
    "read:servers",
]
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20


class ProxyNotInstalledError(RuntimeError):
    """configurable-http-proxy is neither in the project's prefix nor on PATH."""


def install_proxy(prefix: Path) -> Path:
    """Install the pinned configurable-http-proxy from npm into prefix; return its executable."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (Debian: apt-get install nodejs npm)")
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", PROXY_PACKAGE],
        check=True,
    )
    return _proxy_in(prefix)


def find_proxy() -> Path:
    """The proxy installed under <repo>/.venv/chp, else the one on PATH."""
    installed = _proxy_in(DEFAULT_PROXY_PREFIX)
    if installed.exists():
        return installed
    on_path = shutil.which("configurable-http-proxy")
    if on_path:
        return Path(on_path)
    raise ProxyNotInstalledError(
        f"configurable-http-proxy not found in {DEFAULT_PROXY_PREFIX} nor on PATH; "
        f"install it with: {INSTALL_COMMAND}"
    )


def start(state_dir: Path, endpoints: dict[str, str]) -> dict[str, str]:
    """Start the hub and its proxy (or reuse them) and return JUPYTERHUB_URL and its token."""
    folder = _folder(state_dir)
    running = _running_endpoints(state_dir)
    if running is not None:
        return running
    # Whatever a dead hub left (proxy, servers) would hold ports and confuse the new hub.
    stop(state_dir)
    proxy = find_proxy()
    folder.mkdir(parents=True, exist_ok=True)
    tokens = _tokens(folder)
    public_port, api_port, hub_port = _ports(folder)
    url = f"http://{process.LOOPBACK}:{public_port}"
    config_path = folder / "jupyterhub_config.py"
    config_path.write_text(
        _config_text(
            folder=folder,
            public_url=url,
            proxy_api_url=f"http://{process.LOOPBACK}:{api_port}",
            hub_url=f"http://{process.LOOPBACK}:{hub_port}",
            proxy_command=proxy,
            proxy_token=tokens["proxy"],
            service_token=tokens["service"],
            endpoints=endpoints,
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    started = time.monotonic()
    process.start_process(
        [sys.executable, "-m", "jupyterhub", "-f", str(config_path)],
        log_path=folder / "jupyterhub.log",
        pid_path=pid_file(state_dir),
        env=env,
        cwd=folder,
    )
    try:
        _wait_for_hub(url, timeout=START_TIMEOUT_SECONDS)
    except TimeoutError as error:
        raise RuntimeError(
            f"JupyterHub did not answer through the proxy; see {folder / 'jupyterhub.log'}"
        ) from error
    log.info("JupyterHub answers on %s after %.1f s", url, time.monotonic() - started)
    result = {"JUPYTERHUB_URL": url, "JUPYTERHUB_API_TOKEN": tokens["service"]}
    (folder / "endpoints.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def stop(state_dir: Path) -> None:
    """Stop the hub (which stops its servers and proxy), then anything it left behind."""
    folder = _folder(state_dir)
    process.stop_process(pid_file(state_dir), timeout=STOP_TIMEOUT_SECONDS)
    process.stop_process(folder / "jupyterhub-proxy.pid")
    for pid_path in sorted((folder / "servers").glob("*.pid")):
        process.stop_process(pid_path)
    (folder / "endpoints.json").unlink(missing_ok=True)


def pid_file(state_dir: Path) -> Path:
    """Where the hub records its pid while it runs."""
    return _folder(state_dir) / "jupyterhub.pid"


def _folder(state_dir: Path) -> Path:
    return state_dir / "jupyterhub"


def _ports(folder: Path) -> tuple[int, int, int]:
    """The public, proxy API and hub ports the hub had before (checked free), or new ones."""
    path = folder / "ports.json"
    try:
        ports = json.loads(path.read_text())
    except (OSError, ValueError):
        ports = [process.free_port() for _ in range(3)]
        path.write_text(json.dumps(ports) + "\n")
    else:
        for port in ports:
            process.require_port_free(port, service="jupyterhub", recorded_in=path)
    public_port, api_port, hub_port = ports
    return public_port, api_port, hub_port


def _proxy_in(prefix: Path) -> Path:
    return prefix / "node_modules" / ".bin" / "configurable-http-proxy"


def _running_endpoints(state_dir: Path) -> dict[str, str] | None:
    if not process.pid_alive(pid_file(state_dir)):
        return None
    try:
        result = json.loads((_folder(state_dir) / "endpoints.json").read_text())
        _wait_for_hub(result["JUPYTERHUB_URL"], timeout=5)
    except (OSError, ValueError, KeyError, TimeoutError):
        log.warning("JupyterHub runs but does not answer; restarting it")
        return None
    return result


def _wait_for_hub(url: str, timeout: float) -> None:
    """Until the hub itself answers /hub/api through the proxy.

    The proxy is up first and answers 404 for every path until the hub adds its route, so
    any HTTP answer is not enough: the hub's version document is.
    """
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/hub/api", timeout=2) as response:  # noqa: S310
                if "version" in json.loads(response.read()):
                    return
        except (OSError, ValueError) as error:
            last_error = str(error)
        time.sleep(0.1)
    raise TimeoutError(f"{url}/hub/api did not answer within {timeout:g} s ({last_error})")


def _tokens(folder: Path) -> dict[str, str]:
    """Tokens kept across restarts, so a client holding the old token keeps working."""
    path = folder / "tokens.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    tokens = {"service": secrets.token_hex(32), "proxy": secrets.token_hex(32)}
    path.touch(mode=0o600)
    path.write_text(json.dumps(tokens) + "\n")
    return tokens


def _config_text(
    *,
    folder: Path,
    public_url: str,
    proxy_api_url: str,
    hub_url: str,
    proxy_command: Path,
    proxy_token: str,
    service_token: str,
    endpoints: dict[str, str],
) -> str:
    settings: dict[str, object] = {
        "JupyterHub.bind_url": public_url,
        "JupyterHub.hub_bind_url": hub_url,
        "JupyterHub.db_url": f"sqlite:///{folder / 'jupyterhub.sqlite'}",
        "JupyterHub.cookie_secret_file": str(folder / "jupyterhub_cookie_secret"),
        "JupyterHub.allow_named_servers": True,
        "JupyterHub.cleanup_servers": True,
        "JupyterHub.cleanup_proxy": True,
        "JupyterHub.spawner_class": "sandbox.jupyterhub.spawner.SandboxSpawner",
        "JupyterHub.services": [{"name": SERVICE_NAME, "api_token": service_token}],
        "JupyterHub.load_roles": [
            {"name": SERVICE_NAME, "scopes": SERVICE_SCOPES, "services": [SERVICE_NAME]}
        ],
        "ConfigurableHTTPProxy.command": [str(proxy_command)],
        "ConfigurableHTTPProxy.api_url": proxy_api_url,
        "ConfigurableHTTPProxy.auth_token": proxy_token,
        "ConfigurableHTTPProxy.pid_file": str(folder / "jupyterhub-proxy.pid"),
        "SandboxSpawner.state_root": str(folder),
        "SandboxSpawner.ip": process.LOOPBACK,
        "Spawner.start_timeout": 30,
        "Spawner.http_timeout": 20,
    }
    settings.update(_authenticator_settings(endpoints))
    lines = [
        "# Generated by sandbox.jupyterhub.start; rewritten on every start.",
        "c = get_config()  # noqa: F821",
    ]
    lines += [f"c.{name} = {value!r}" for name, value in settings.items()]
    return "\n".join(lines) + "\n"


def _authenticator_settings(endpoints: dict[str, str]) -> dict[str, object]:
    ldap_uri = endpoints.get("LDAP_URI")
    if not ldap_uri:
        # Without a directory nobody can log in; the API token still works.
        return {"JupyterHub.authenticator_class": "null"}
    address = urlsplit(ldap_uri)
    if address.scheme not in ("ldap", "ldaps"):
        raise ValueError(f"LDAP_URI must be ldap:// or ldaps://, not {ldap_uri!r}")
    base_dn = endpoints.get("LDAP_BASE_DN", "dc=example,dc=test")
    return {
        "JupyterHub.authenticator_class": (
            "sandbox.jupyterhub.authenticator.DirectoryAuthenticator"
        ),
        "DirectoryAuthenticator.server_address": address.hostname,
        "DirectoryAuthenticator.server_port": address.port or 389,
        "DirectoryAuthenticator.tls_strategy": (
            "on_connect" if address.scheme == "ldaps" else "insecure"
        ),
        "DirectoryAuthenticator.bind_dn_template": [
            f"uid={{username}},cn=users,cn=accounts,{base_dn}"
        ],
        # As production should be (JupyterHub 5+): only users the hub knows may log in, and the
        # hub knows whom AccessAdmin created through the API. With allow_all, removing a hub user
        # would take nothing away: the next login would create them again.
        "DirectoryAuthenticator.allow_all": False,
        "DirectoryAuthenticator.allow_existing_users": True,
    }
