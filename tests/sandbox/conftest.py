"""The FreeIPA stand-in as its tests meet it: reset to its first state, and its admin logged in."""

from __future__ import annotations

import pytest
from python_freeipa import ClientMeta

import sandbox.freeipa as freeipa
from sandbox.freeipa.bootstrap import reset
from tests.stack import stack_services

freeipa_stack = stack_services("directory", "freeipa")


@pytest.fixture
def endpoints(freeipa_stack: dict[str, str]) -> dict[str, str]:
    reset(freeipa.tree_for(freeipa_stack))
    return freeipa_stack


@pytest.fixture
def admin(endpoints: dict[str, str]) -> ClientMeta:
    client = ClientMeta(endpoints["FREEIPA_HOST"], verify_ssl=endpoints["FREEIPA_CA_FILE"])
    client.login(endpoints["FREEIPA_USERNAME"], endpoints["FREEIPA_PASSWORD"])
    return client
