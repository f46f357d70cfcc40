"""The real local services the connectors are tested against, one of each per session.

moto and JupyterHub are started here, each under its own temporary folder, and stopped at the
end; tests/stack.py will take this over once it provides them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import aws, jupyterhub, process


@pytest.fixture(scope="session")
def aws_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state_dir = tmp_path_factory.mktemp("integrations-aws")
    endpoints = aws.start(state_dir, {})
    try:
        with pytest.MonkeyPatch.context() as patch:
            # boto3 takes credentials from the environment: only moto's fake ones, never real ones.
            patch.setenv("AWS_ACCESS_KEY_ID", endpoints["AWS_ACCESS_KEY_ID"])
            patch.setenv("AWS_SECRET_ACCESS_KEY", endpoints["AWS_SECRET_ACCESS_KEY"])
            patch.delenv("AWS_SESSION_TOKEN", raising=False)
            patch.delenv("AWS_PROFILE", raising=False)
            yield endpoints
    finally:
        aws.stop(state_dir)


@pytest.fixture(scope="session")
def hub_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state_dir = tmp_path_factory.mktemp("integrations-jupyterhub")
    # No directory: logins are not what these tests are about, the service token is.
    endpoints = jupyterhub.start(state_dir, {})
    try:
        yield endpoints
    finally:
        jupyterhub.stop(state_dir)


@pytest.fixture
def closed_url() -> str:
    """An address on loopback where nothing listens."""
    return f"http://{process.LOOPBACK}:{process.free_port()}"
