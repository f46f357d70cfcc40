"""JupyterHub through its REST API (<url>/hub/api), as the service that holds
JUPYTERHUB_API_TOKEN.

The service needs the scopes admin:users, admin:groups, admin:servers, read:users and
read:servers: without read:servers the hub leaves running servers out of its user model, and
user_remove would not see the named ones it must stop.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from onboarding.errors import NotFound, PermanentError, Throttled, TransientError
from onboarding.systems._counting import RoundTrips, request_allowed

SYSTEM = "jupyterhub"
TIMEOUT_SECONDS = 10.0
# Stopping a server may take the spawner's whole stop timeout; past this the step is retried.
STOP_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.5
# Users a page when listing them all (JupyterHub's api_page_max_limit is 200 unless lowered).
PAGE_SIZE = 200
PAGINATED = {"Accept": "application/jupyterhub-pagination+json"}
# Before 5.3, a hub whose authenticator manages groups (manage_groups = True) refuses every group
# change through the API with this 400, before it looks at the group
# (jupyterhub/apihandlers/groups.py:36-39 at 5.2.1, called first by each handler that changes one).
GROUPS_MANAGED_BY_AUTHENTICATOR = "Group management via API is disabled"
GROUPS_MANAGED_FIX = (
    "set manage_groups = False on the hub's authenticator in jupyterhub_config.py, or run "
    "JupyterHub 5.3 or later, which lets the API change groups too"
)


@dataclass(frozen=True)
class HubUser:
    name: str
    groups: tuple[str, ...]
    # Running or pending servers; "" is the default one.
    servers: tuple[str, ...]


class JupyterHub:
    """Hub users, their group memberships and their servers."""

    def __init__(
        self,
        url: str,
        token: str,
        timeout: float = TIMEOUT_SECONDS,
        *,
        stop_wait: float = STOP_WAIT_SECONDS,
    ) -> None:
        self.api = f"{url.rstrip('/')}/hub/api"
        self.timeout = timeout
        self.stop_wait = stop_wait
        self._trips = RoundTrips()
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"token {token}"

    @property
    def round_trips(self) -> int:
        """Requests this thread has sent through this connector."""
        return self._trips.count

    @classmethod
    def from_settings(cls) -> JupyterHub:
        if not settings.JUPYTERHUB_URL or not settings.JUPYTERHUB_API_TOKEN:
            raise PermanentError(SYSTEM, "JUPYTERHUB_URL and JUPYTERHUB_API_TOKEN must be set")
        return cls(url=settings.JUPYTERHUB_URL, token=settings.JUPYTERHUB_API_TOKEN)

    def group_members(self, *, group: str) -> list[str]:
        """The users in a hub group; none when the hub has no such group."""
        try:
            return list(self._call("GET", _group_path(group)).get("users", []))
        except NotFound:
            return []

    def users(self) -> list[HubUser]:
        """Every hub user with their groups: one listing, page by page."""
        found: list[HubUser] = []
        offset = 0
        while True:
            page = self._call("GET", f"/users?offset={offset}&limit={PAGE_SIZE}", headers=PAGINATED)
            found += [_hub_user(model) for model in page.get("items", [])]
            following = (page.get("_pagination") or {}).get("next")
            if not following or not page.get("items"):
                return found
            offset = following["offset"]

    def token_model(self) -> dict[str, Any]:
        """The token's owner as the hub sees it, with the token's expanded scopes."""
        return self._call("GET", "/user")

    def version(self) -> str:
        return self._call("GET", "/").get("version", "")

    def whoami(self) -> str:
        """One harmless call: who the token belongs to, and that the hub accepts it."""
        model = self._call("GET", "/user")
        kind = model.get("kind", "user")
        return f"{kind} {model.get('name', '?')} (scopes: {', '.join(model.get('scopes', []))})"

    def user_find(self, *, name: str) -> HubUser | None:
        try:
            return _hub_user(self._call("GET", _user_path(name)))
        except NotFound:
            return None

    def group_changes_allowed(self) -> bool:
        """Whether the hub lets its API change groups: asks to add nobody to a group that does
        not exist, which such a hub answers with 404 and nothing changes."""
        probe = f"accessadmin-preflight-{uuid.uuid4().hex[:8]}"
        try:
            self._call("POST", f"{_group_path(probe)}/users", json={"users": []})
        except NotFound:
            return True
        except _BadRequest as error:
            if GROUPS_MANAGED_BY_AUTHENTICATOR in error.message:
                return False
            raise
        return True

    def user_create(self, *, name: str) -> HubUser:
        try:
            return _hub_user(self._call("POST", _user_path(name)))
        except _Conflict:
            return _hub_user(self._call("GET", _user_path(name)))

    def group_add_user(self, *, group: str, name: str) -> None:
        """Add the user to the group, creating the group first if the hub has none by that name."""
        members = {"users": [name]}
        try:
            self._call("POST", f"{_group_path(group)}/users", json=members)
        except NotFound:
            try:
                self._call("POST", _group_path(group), json=members)
            except _Conflict:
                # Created by someone else in between: join theirs.
                self._call("POST", f"{_group_path(group)}/users", json=members)

    def group_remove_user(self, *, group: str, name: str) -> None:
        try:
            self._call("DELETE", f"{_group_path(group)}/users", json={"users": [name]})
        except NotFound:
            pass
        except _BadRequest:
            # The hub refuses a user it does not know; such a user is in no group.
            if self.user_find(name=name) is not None:
                raise

    def user_remove(self, *, name: str) -> bool:
        """Stop all their servers, take them out of their groups and delete them.

        False if the hub had no such user.
        """
        user = self.user_find(name=name)
        if user is None:
            return False
        self._servers_stop(user)
        for group in user.groups:
            self.group_remove_user(group=group, name=name)
        with contextlib.suppress(NotFound):
            self._call("DELETE", _user_path(name))
        return True

    def servers_stop(self, *, name: str) -> list[str]:
        """Stop every server of the user and wait until they are down; the user stays. Returns
        the servers that were running ("" is the default one)."""
        user = self.user_find(name=name)
        if user is None:
            return []
        self._servers_stop(user)
        return list(user.servers)

    def _servers_stop(self, user: HubUser) -> None:
        stopping = False
        for server in user.servers:
            with contextlib.suppress(NotFound):
                # 202: the hub has begun stopping it; 204: it has stopped.
                stopping |= self._send("DELETE", _server_path(user.name, server)).status_code == 202
        if stopping:
            self._wait_for_servers_to_stop(user.name)

    def _wait_for_servers_to_stop(self, name: str) -> None:
        deadline = time.monotonic() + self.stop_wait
        while True:
            user = self.user_find(name=name)
            if user is None or not user.servers:
                return
            if time.monotonic() >= deadline:
                raise TransientError(
                    SYSTEM,
                    f"servers {', '.join(repr(s) for s in user.servers)} of {name} still run "
                    f"{self.stop_wait:g} s after being stopped",
                )
            time.sleep(POLL_SECONDS)

    def _call(
        self, method: str, path: str, *, json: Any = None, headers: dict | None = None
    ) -> Any:
        """The decoded JSON body of a 2xx answer (None if empty), else an error."""
        return _json_or_none(self._send(method, path, json=json, headers=headers))

    def _send(
        self, method: str, path: str, *, json: Any = None, headers: dict | None = None
    ) -> requests.Response:
        """One request to the hub API: its 2xx answer, else an error."""
        request_allowed()
        self._trips.add()
        try:
            response = self._session.request(
                method, f"{self.api}{path}", json=json, headers=headers, timeout=self.timeout,
                allow_redirects=False,
            )  # fmt: skip
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientError(SYSTEM, f"cannot reach {self.api}: {error}") from error
        except requests.RequestException as error:
            raise PermanentError(SYSTEM, f"{method} {path}: {error}") from error
        status = response.status_code
        if 200 <= status < 300:
            return response
        message = f"{method} {path}: {status} {_hub_message(response)}"
        if status == 429:
            raise Throttled(SYSTEM, message)
        if status >= 500:
            raise TransientError(SYSTEM, message)
        if status in (401, 403):
            raise PermanentError(
                SYSTEM,
                f"{message}; the hub refused the token: check JUPYTERHUB_API_TOKEN "
                "and the scopes of its service",
            )
        if status == 404 and not _from_the_hub_api(response):
            # configurable-http-proxy answers its own 404 page while it has no route to the hub
            # (the hub is starting): that says nothing of whether the user exists.
            raise TransientError(SYSTEM, f"{message}; not the hub's answer (its proxy, no route)")
        if status == 400 and GROUPS_MANAGED_BY_AUTHENTICATOR in message:
            message = f"{message}; the hub's authenticator manages groups: {GROUPS_MANAGED_FIX}"
        error_class = {400: _BadRequest, 404: NotFound, 409: _Conflict}.get(status, PermanentError)
        raise error_class(SYSTEM, message)


class _BadRequest(PermanentError):
    """400: the hub refused the request as asked."""


class _Conflict(PermanentError):
    """409: what was to be created exists already."""


def _path_part(name: str) -> str:
    # Quoting leaves "." and ".." as they are, and a URL resolver would walk up with them.
    if not name or set(name) == {"."}:
        raise PermanentError(SYSTEM, f"{name!r} cannot be a hub user or group name")
    return quote(name, safe="")


def _user_path(name: str) -> str:
    return f"/users/{_path_part(name)}"


def _group_path(group: str) -> str:
    return f"/groups/{_path_part(group)}"


def _server_path(name: str, server: str) -> str:
    if server:
        return f"{_user_path(name)}/servers/{_path_part(server)}"
    return f"{_user_path(name)}/server"


def _hub_user(model: Any) -> HubUser:
    if not isinstance(model, dict) or "name" not in model:
        raise PermanentError(SYSTEM, f"expected a user model, got {model!r:.200}")
    return HubUser(
        name=model["name"],
        groups=tuple(model.get("groups") or ()),
        servers=tuple(model.get("servers") or {}),
    )


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as error:
        raise PermanentError(
            SYSTEM, f"{response.request.method} {response.url}: answer is not JSON"
        ) from error


def _from_the_hub_api(response: requests.Response) -> bool:
    """The hub's API answers errors as JSON with their status (jupyterhub/apihandlers/base.py
    write_error); a proxy's own error page is HTML."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == response.status_code


def _hub_message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", "")) or response.reason
    except (ValueError, AttributeError):
        return response.reason or ""
