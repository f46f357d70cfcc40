"""The FreeIPA stand-in as its tests meet it: reset to its first state, and its admin logged in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from python_freeipa import ClientMeta

import sandbox.freeipa as freeipa
from sandbox.freeipa.bootstrap import reset
from tests.stack import stack_services

freeipa_stack = stack_services("directory", "freeipa")
PASSWORD = "first-Password-1"
NEW_PASSWORD = "second-Password-2"


@pytest.fixture
def endpoints(freeipa_stack: dict[str, str]) -> dict[str, str]:
    reset(freeipa.tree_for(freeipa_stack))
    return freeipa_stack


@pytest.fixture
def admin(endpoints: dict[str, str]) -> ClientMeta:
    client = ClientMeta(endpoints["FREEIPA_HOST"], verify_ssl=endpoints["FREEIPA_CA_FILE"])
    client.login(endpoints["FREEIPA_USERNAME"], endpoints["FREEIPA_PASSWORD"])
    return client


@pytest.fixture
def person(admin: ClientMeta, endpoints: dict[str, str]) -> Callable[[str], ClientMeta]:
    """Adds a user who chose their own password, logged in, with no role at all."""

    def make(uid: str) -> ClientMeta:
        admin.user_add(
            uid, o_givenname="Test", o_sn="Person", o_cn="Test Person", o_userpassword=PASSWORD
        )
        host = endpoints["FREEIPA_HOST"]
        changed = requests.post(
            f"https://{host}/ipa/session/change_password",
            data={"user": uid, "old_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers={"Referer": f"https://{host}/ipa/session/change_password"},
            verify=endpoints["FREEIPA_CA_FILE"],
            timeout=10,
        )
        assert changed.headers["X-IPA-Pwchange-Result"] == "ok"
        client = ClientMeta(host, verify_ssl=endpoints["FREEIPA_CA_FILE"])
        client.login(uid, NEW_PASSWORD)
        return client

    return make
