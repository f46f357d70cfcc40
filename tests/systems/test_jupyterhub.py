"""JupyterHub against the real hub of the sandbox: users, groups, and servers that really run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import requests.adapters

from onboarding.errors import PermanentError, TransientError
from onboarding.systems.base import Check
from onboarding.systems.jupyterhub import JupyterHubSystem
from onboarding.systems.jupyterhub.client import HubUser, JupyterHub
from tests.processes import process_running, wait_until

pytestmark = pytest.mark.stack


class HubAPI:
    """The hub's REST API called directly, to set up and check what the connector did."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        self.url = endpoints["JUPYTERHUB_URL"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {endpoints['JUPYTERHUB_API_TOKEN']}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.url}/hub/api{path}", timeout=30, **kwargs)

    def start_server(self, user: str, name: str = "") -> int:
        path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
        assert self.call("POST", path).status_code in (201, 202)
        wait_until(lambda: self._server(user, name).get("ready", False))
        return self._server(user, name)["state"]["pid"]

    def _server(self, user: str, name: str) -> dict:
        return self.call("GET", f"/users/{user}").json()["servers"].get(name, {})


@pytest.fixture
def hub(hub_endpoints: dict[str, str]) -> JupyterHub:
    return JupyterHub(
        url=hub_endpoints["JUPYTERHUB_URL"],
        token=hub_endpoints["JUPYTERHUB_API_TOKEN"],
        timeout=10,
    )


@pytest.fixture
def hub_api(hub_endpoints: dict[str, str]) -> HubAPI:
    return HubAPI(hub_endpoints)


def test_user_is_created_found_and_creating_again_is_fine(hub: JupyterHub, hub_api: HubAPI) -> None:
    assert hub.user_find(name="hub-repeat") is None

    created = hub.user_create(name="hub-repeat")
    again = hub.user_create(name="hub-repeat")

    assert created == HubUser(name="hub-repeat", groups=(), servers=())
    assert again == created
    assert hub.user_find(name="hub-repeat") == created
    names = [user["name"] for user in hub_api.call("GET", "/users").json()]
    assert names.count("hub-repeat") == 1


def test_group_is_created_on_first_member_and_membership_is_idempotent(
    hub: JupyterHub, hub_api: HubAPI
) -> None:
    hub.user_create(name="hub-member")
    hub.user_create(name="hub-colleague")

    hub.group_add_user(group="hubtest-vision", name="hub-member")
    hub.group_add_user(group="hubtest-vision", name="hub-member")
    hub.group_add_user(group="hubtest-vision", name="hub-colleague")

    assert hub.user_find(name="hub-member").groups == ("hubtest-vision",)
    members = hub_api.call("GET", "/groups/hubtest-vision").json()["users"]
    assert sorted(members) == ["hub-colleague", "hub-member"]


def test_group_removal_is_fine_when_already_out_or_unknown(
    hub: JupyterHub, hub_api: HubAPI
) -> None:
    hub.user_create(name="hub-leaver")
    hub.group_add_user(group="hubtest-speech", name="hub-leaver")

    hub.group_remove_user(group="hubtest-speech", name="hub-leaver")
    hub.group_remove_user(group="hubtest-speech", name="hub-leaver")
    hub.group_remove_user(group="hubtest-no-such-group", name="hub-leaver")
    hub.group_remove_user(group="hubtest-speech", name="hub-no-such-user")

    assert hub.user_find(name="hub-leaver").groups == ()
    assert hub_api.call("GET", "/groups/hubtest-speech").json()["users"] == []


def test_adding_an_unknown_user_to_a_group_is_permanent(hub: JupyterHub) -> None:
    with pytest.raises(PermanentError, match="No such user"):
        hub.group_add_user(group="hubtest-vision", name="hub-never-created")


def test_remove_stops_every_server_and_deletes_the_user(
    hub: JupyterHub, hub_api: HubAPI, hub_endpoints: dict[str, str]
) -> None:
    hub.user_create(name="hub-offboarded")
    hub.group_add_user(group="hubtest-robotics", name="hub-offboarded")
    default_pid = hub_api.start_server("hub-offboarded")
    named_pid = hub_api.start_server("hub-offboarded", "gpu")
    assert set(hub.user_find(name="hub-offboarded").servers) == {"", "gpu"}

    assert hub.user_remove(name="hub-offboarded") is True

    assert hub.user_find(name="hub-offboarded") is None
    assert not process_running(default_pid)
    assert not process_running(named_pid)
    assert hub_api.call("GET", "/groups/hubtest-robotics").json()["users"] == []
    # The person's notebook address no longer reaches a server of theirs.
    page = requests.get(
        f"{hub_endpoints['JUPYTERHUB_URL']}/user/hub-offboarded/", timeout=10, allow_redirects=False
    )
    assert page.status_code != 200


def test_remove_of_an_unknown_user_is_done(hub: JupyterHub) -> None:
    assert hub.user_remove(name="hub-never-there") is False


def test_bad_token_is_permanent_and_names_the_setting(hub_endpoints: dict[str, str]) -> None:
    hub = JupyterHub(url=hub_endpoints["JUPYTERHUB_URL"], token="not-the-token", timeout=10)

    with pytest.raises(PermanentError, match=r"403 .*check JUPYTERHUB_API_TOKEN"):
        hub.user_create(name="hub-intruder")


def test_unreachable_hub_is_transient(closed_url: str) -> None:
    hub = JupyterHub(url=closed_url, token="any", timeout=5)

    with pytest.raises(TransientError, match="cannot reach"):
        hub.user_find(name="hub-offline")


def test_round_trips_per_verb(hub: JupyterHub, hub_api: HubAPI) -> None:
    counts = {}

    def measured(verb: str, call: Callable[[], object]) -> None:
        before = hub.round_trips
        call()
        counts[verb] = hub.round_trips - before

    measured("find missing", lambda: hub.user_find(name="hub-trips"))
    measured("create", lambda: hub.user_create(name="hub-trips"))
    measured("create existing", lambda: hub.user_create(name="hub-trips"))
    measured(
        "add to new group", lambda: hub.group_add_user(group="hubtest-trips", name="hub-trips")
    )
    measured("add to group", lambda: hub.group_add_user(group="hubtest-trips", name="hub-trips"))
    measured(
        "remove from group", lambda: hub.group_remove_user(group="hubtest-trips", name="hub-trips")
    )
    hub.group_add_user(group="hubtest-trips", name="hub-trips")
    measured("remove without servers", lambda: hub.user_remove(name="hub-trips"))
    measured("remove missing", lambda: hub.user_remove(name="hub-trips"))

    assert counts == {
        "find missing": 1,
        "create": 1,
        "create existing": 2,
        # add (404), create the group with the member
        "add to new group": 2,
        "add to group": 1,
        "remove from group": 1,
        # find, leave the group, delete
        "remove without servers": 3,
        "remove missing": 1,
    }

    hub.user_create(name="hub-trips")
    hub_api.start_server("hub-trips")
    before = hub.round_trips
    hub.user_remove(name="hub-trips")
    # find, stop, delete, and polls while the hub reports it stopping, bounded by the stop wait.
    assert 3 <= hub.round_trips - before <= 3 + hub.stop_wait / 0.5


def test_from_settings_uses_the_configured_hub(
    settings: Any, hub_endpoints: dict[str, str]
) -> None:
    settings.JUPYTERHUB_URL = hub_endpoints["JUPYTERHUB_URL"]
    settings.JUPYTERHUB_API_TOKEN = hub_endpoints["JUPYTERHUB_API_TOKEN"]

    assert JupyterHub.from_settings().user_create(name="hub-settings").name == "hub-settings"


def test_from_settings_without_a_token_is_refused(settings: Any) -> None:
    settings.JUPYTERHUB_URL = "http://127.0.0.1:9"
    settings.JUPYTERHUB_API_TOKEN = ""

    with pytest.raises(PermanentError, match="JUPYTERHUB_API_TOKEN"):
        JupyterHub.from_settings()


class HubWithAuthenticatorManagedGroups(requests.adapters.BaseAdapter):
    """How JupyterHub 4.0 to 5.2 answers any group change when its authenticator has
    manage_groups = True (jupyterhub/apihandlers/groups.py:36-39 at 5.2.1). Such a hub cannot
    run here: the sandbox's hub is newer, and from 5.3 on the API may change groups anyway."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 400
        response.reason = "Bad Request"
        response._content = b'{"status": 400, "message": "Group management via API is disabled"}'
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_preflight_sees_the_api_may_change_groups_and_changes_none(
    hub: JupyterHub, hub_api: HubAPI
) -> None:
    before = hub_api.call("GET", "/groups").json()
    system = JupyterHubSystem()
    system._client = hub
    [check] = [c for c in system.preflight() if c.subject == "group changes"]
    assert (check.verdict, check.detail) == (Check.OK, "the API may add and remove group members")
    assert hub_api.call("GET", "/groups").json() == before


def test_a_hub_whose_authenticator_manages_groups_is_named_with_the_fix(
    hub: JupyterHub, hub_endpoints: dict[str, str]
) -> None:
    hub._session.mount(
        f"{hub_endpoints['JUPYTERHUB_URL']}/hub/api/groups/", HubWithAuthenticatorManagedGroups()
    )
    system = JupyterHubSystem()
    system._client = hub
    [check] = [c for c in system.preflight() if c.subject == "group changes"]
    assert check.verdict == Check.FAILED
    assert "400 'Group management via API is disabled'" in check.detail
    assert "manage_groups = True, JupyterHub before 5.3" in check.detail
    assert check.fix.startswith("set manage_groups = False on the hub's authenticator")
    with pytest.raises(PermanentError, match="the hub's authenticator manages groups: set"):
        hub.group_add_user(group="hubtest-managed", name="hub-member")


def test_a_404_that_is_not_the_hubs_answer_is_transient_not_a_missing_user() -> None:
    """While the hub starts, configurable-http-proxy has no route to it and answers its own
    HTML 404 page: a removal step must not take that for the user being gone."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class ProxyWithoutRoute(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body><h1>404: Not Found</h1></body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    proxy = HTTPServer(("127.0.0.1", 0), ProxyWithoutRoute)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        hub = JupyterHub(url=f"http://127.0.0.1:{proxy.server_port}", token="any", timeout=5)
        with pytest.raises(TransientError, match="not the hub's answer"):
            hub.user_find(name="leaver")
    finally:
        proxy.shutdown()


def test_the_hubs_own_404_still_means_no_such_user(hub: JupyterHub) -> None:
    assert hub.user_find(name="hub-never-there-either") is None
