"""The JupyterHub stand-in: the hub behind the real proxy, driven with the accessadmin
service token, running a real process per server, with logins checked against the directory."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import ldap
import ldap.modlist
import pytest
import requests

from sandbox import jupyterhub, process
from tests.processes import process_running, wait_until
from tests.stack import SessionStack, stack_services

pytestmark = pytest.mark.stack


class Hub:
    """The hub's REST API as the accessadmin service sees it."""

    def __init__(self, endpoints: dict[str, str], state_dir: Path) -> None:
        self.url = endpoints["JUPYTERHUB_URL"]
        self.api = f"{self.url}/hub/api"
        self.state_dir = state_dir
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {endpoints['JUPYTERHUB_API_TOKEN']}"

    def call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session.request(method, f"{self.api}{path}", timeout=30, **kwargs)

    def forget(self, *, users: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> None:
        """Remove what an earlier run against a kept stack may have left."""
        for user in users:
            assert self.call("DELETE", f"/users/{user}").status_code in (204, 404)
        for group in groups:
            assert self.call("DELETE", f"/groups/{group}").status_code in (204, 404)

    def server(self, user: str, name: str = "") -> dict:
        return self.call("GET", f"/users/{user}").json()["servers"].get(name, {})

    def start_server(self, user: str, name: str = "") -> int:
        path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
        started = time.monotonic()
        response = self.call("POST", path)
        assert response.status_code in (201, 202), response.text
        wait_until(lambda: self.server(user, name).get("ready", False))
        print(f"server {user}/{name or '(default)'} start: {time.monotonic() - started:.2f} s")
        return self.server(user, name)["state"]["pid"]

    def stop_server(self, user: str, name: str = "") -> None:
        path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
        response = self.call("DELETE", path)
        assert response.status_code in (202, 204), response.text
        wait_until(lambda: not self.server(user, name))


def _start_timed(state_dir: Path, endpoints: dict[str, str]) -> dict[str, str]:
    started = time.monotonic()
    result = jupyterhub.start(state_dir, endpoints)
    print(f"jupyterhub start: {time.monotonic() - started:.2f} s")
    return result


hub_endpoints = stack_services("directory", "jupyterhub")


@pytest.fixture(scope="module")
def hub(hub_endpoints: dict[str, str], sandbox_session: SessionStack) -> Hub:
    return Hub(hub_endpoints, sandbox_session.state_dir)


def test_hub_answers_through_the_proxy(hub: Hub) -> None:
    response = requests.get(f"{hub.url}/hub/api", timeout=10)
    assert response.status_code == 200
    assert response.json()["version"] == "6.1.1"
    assert process.pid_alive(hub.state_dir / "jupyterhub" / "jupyterhub-proxy.pid")


def test_bad_token_is_refused(hub: Hub) -> None:
    response = requests.get(
        f"{hub.api}/users", headers={"Authorization": "token not-the-token"}, timeout=10
    )
    assert response.status_code == 403


def test_service_manages_users_and_groups(hub: Hub) -> None:
    hub.forget(users=("grace",), groups=("ml-team",))
    assert hub.call("POST", "/users/grace").status_code == 201
    assert hub.call("POST", "/groups/ml-team").status_code == 201
    added = hub.call("POST", "/groups/ml-team/users", json={"users": ["grace"]})
    assert added.status_code == 200
    assert hub.call("GET", "/groups/ml-team").json()["users"] == ["grace"]
    assert hub.call("GET", "/users/grace").json()["groups"] == ["ml-team"]


def test_started_servers_run_and_answer_through_the_proxy(hub: Hub) -> None:
    hub.forget(users=("heidi",))
    assert hub.call("POST", "/users/heidi").status_code == 201

    default_pid = hub.start_server("heidi")
    named_pid = hub.start_server("heidi", "gpu")

    assert process_running(default_pid)
    assert process_running(named_pid)
    default = requests.get(f"{hub.url}/user/heidi/", timeout=10)
    assert default.status_code == 200
    assert default.json()["user"] == "heidi"
    assert default.json()["pid"] == str(default_pid)
    named = requests.get(f"{hub.url}/user/heidi/gpu/", timeout=10)
    assert named.json()["server_name"] == "gpu"
    assert named.json()["pid"] == str(named_pid)

    hub.stop_server("heidi", "gpu")
    hub.stop_server("heidi")

    wait_until(lambda: not process_running(default_pid) and not process_running(named_pid))
    assert hub.call("DELETE", "/users/heidi").status_code == 204
    assert hub.call("GET", "/users/heidi").status_code == 404


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    hub = Hub(_start_timed(tmp_path, {}), tmp_path)
    hub.call("POST", "/users/ivan")
    server_pids = [hub.start_server("ivan"), hub.start_server("ivan", "cpu")]
    folder = tmp_path / "jupyterhub"
    hub_pid = process.read_pid(folder / "jupyterhub.pid")
    proxy_pid = process.read_pid(folder / "jupyterhub-proxy.pid")
    assert hub_pid and proxy_pid

    started = time.monotonic()
    jupyterhub.stop(tmp_path)
    print(f"jupyterhub stop: {time.monotonic() - started:.2f} s")

    for pid in [hub_pid, proxy_pid, *server_pids]:
        assert not process_running(pid), pid
    assert not process.port_answers(int(hub.url.rsplit(":", 1)[1]))


def test_start_after_a_hub_crash_clears_what_it_left_and_serves_again_on_its_port(
    tmp_path: Path,
) -> None:
    first = _start_timed(tmp_path, {})
    assert _start_timed(tmp_path, {}) == first
    hub = Hub(first, tmp_path)
    hub.call("POST", "/users/oscar")
    orphan = hub.start_server("oscar")
    folder = tmp_path / "jupyterhub"
    old_proxy = process.read_pid(folder / "jupyterhub-proxy.pid")
    hub_pid = process.read_pid(folder / "jupyterhub.pid")
    assert hub_pid and old_proxy
    os.kill(hub_pid, signal.SIGKILL)
    wait_until(lambda: not process_running(hub_pid))

    try:
        endpoints = _start_timed(tmp_path, {})
        restarted = Hub(endpoints, tmp_path)

        assert endpoints == first
        assert not process_running(orphan)
        assert not process_running(old_proxy)
        assert restarted.call("GET", "/users/oscar").status_code == 200
        assert restarted.start_server("oscar") != orphan
    finally:
        jupyterhub.stop(tmp_path)


def test_missing_proxy_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(jupyterhub, "DEFAULT_PROXY_PREFIX", tmp_path / "chp")
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(jupyterhub.ProxyNotInstalledError, match="install-proxy --prefix"):
        jupyterhub.find_proxy()


def test_directory_person_logs_in_through_the_login_form(
    hub: Hub, directory: dict[str, str]
) -> None:
    hub.forget(users=("judy",))
    _add_person(directory, "judy", password="judy-secret-1")
    assert hub.call("POST", "/users/judy").status_code == 201

    response = _log_in(hub, "Judy", "judy-secret-1")

    assert response.status_code == 302, response.text
    assert "/hub/login" not in response.headers["Location"]
    assert hub.call("GET", "/users/judy").status_code == 200


def test_locked_directory_person_cannot_log_in(hub: Hub, directory: dict[str, str]) -> None:
    hub.forget(users=("mallory",))
    _add_person(directory, "mallory", password="mallory-secret-1", locked=True)
    assert hub.call("POST", "/users/mallory").status_code == 201

    response = _log_in(hub, "mallory", "mallory-secret-1")

    assert response.status_code == 403
    # The lock, not the password, was what kept her out.
    _unlock_person(directory, "mallory")
    assert _log_in(hub, "mallory", "mallory-secret-1").status_code == 302


def test_a_directory_person_the_hub_does_not_know_cannot_log_in(
    hub: Hub, directory: dict[str, str]
) -> None:
    hub.forget(users=("oscar",))
    _add_person(directory, "oscar", password="oscar-secret-1")

    assert _log_in(hub, "oscar", "oscar-secret-1").status_code == 403
    assert hub.call("GET", "/users/oscar").status_code == 404


def test_a_removed_hub_user_cannot_log_in_again(hub: Hub, directory: dict[str, str]) -> None:
    """Offboarding removes the hub user; the directory password alone must not bring them back."""
    hub.forget(users=("rita",))
    _add_person(directory, "rita", password="rita-secret-1")
    assert hub.call("POST", "/users/rita").status_code == 201
    assert _log_in(hub, "rita", "rita-secret-1").status_code == 302

    assert hub.call("DELETE", "/users/rita").status_code == 204

    assert _log_in(hub, "rita", "rita-secret-1").status_code == 403
    assert hub.call("GET", "/users/rita").status_code == 404


def _log_in(hub: Hub, username: str, password: str) -> requests.Response:
    browser = requests.Session()
    form = browser.get(f"{hub.url}/hub/login", timeout=10)
    match = re.search(r'name="_xsrf"\s+value="([^"]+)"', form.text)
    assert match, "login form has no _xsrf field"
    return browser.post(
        f"{hub.url}/hub/login",
        data={"username": username, "password": password, "_xsrf": match.group(1)},
        allow_redirects=False,
        timeout=30,
    )


def _add_person(
    endpoints: dict[str, str], uid: str, *, password: str, locked: bool = False
) -> None:
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    number = str(20000 + sum(map(ord, uid)))
    entry = {
        "objectClass": [b"top", b"person", b"inetOrgPerson", b"inetUser", b"posixAccount"],
        "uid": [uid.encode()],
        "cn": [uid.title().encode()],
        "sn": [uid.title().encode()],
        "givenName": [uid.title().encode()],
        "uidNumber": [number.encode()],
        "gidNumber": [number.encode()],
        "homeDirectory": [f"/home/{uid}".encode()],
        "userPassword": [password.encode()],
    }
    if locked:
        entry["nsAccountLock"] = [b"TRUE"]
    dn = f"uid={uid},cn=users,cn=accounts,{endpoints['LDAP_BASE_DN']}"
    try:
        # A directory shared with earlier runs may hold the person in another state.
        with contextlib.suppress(ldap.NO_SUCH_OBJECT):
            connection.delete_s(dn)
        connection.add_s(dn, ldap.modlist.addModlist(entry))
    finally:
        connection.unbind_s()


def _unlock_person(endpoints: dict[str, str], uid: str) -> None:
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    try:
        connection.modify_s(
            f"uid={uid},cn=users,cn=accounts,{endpoints['LDAP_BASE_DN']}",
            [(ldap.MOD_REPLACE, "nsAccountLock", [b"FALSE"])],
        )
    finally:
        connection.unbind_s()
