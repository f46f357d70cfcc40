"""The real local services the connectors are tested against, shared with the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import process
from tests.stack import stack_services

aws_stack = stack_services("aws")
# With the directory first, as the other tests sharing the session hub expect its LDAP logins.
hub_endpoints = stack_services("directory", "jupyterhub")


@pytest.fixture(scope="session")
def aws_endpoints(aws_stack: dict[str, str]) -> Iterator[dict[str, str]]:
    with pytest.MonkeyPatch.context() as patch:
        # boto3 takes credentials from the environment: only moto's fake ones, never real ones.
        patch.setenv("AWS_ACCESS_KEY_ID", aws_stack["AWS_ACCESS_KEY_ID"])
        patch.setenv("AWS_SECRET_ACCESS_KEY", aws_stack["AWS_SECRET_ACCESS_KEY"])
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        yield aws_stack


@pytest.fixture
def closed_url() -> str:
    """An address on loopback where nothing listens."""
    return f"http://{process.LOOPBACK}:{process.free_port()}"
