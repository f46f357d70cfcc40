"""The latency proxy: clients reach FreeIPA (TLS, Referer checked) and moto through it as
they reach them directly. Its delays are not timed here (no timed tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from python_freeipa import ClientMeta

from sandbox import aws, latency
from tests.stack import stack_services

pytestmark = pytest.mark.stack

freeipa_and_moto = stack_services("directory", "freeipa", "aws")


@pytest.fixture
def through(freeipa_and_moto: dict[str, str]) -> Iterator[dict[str, str]]:
    proxy, endpoints = latency.start_proxies(
        freeipa_and_moto, latency.parse_latencies("freeipa=5ms,aws=5ms")
    )
    try:
        yield {**freeipa_and_moto, **endpoints}
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


def test_freeipa_logs_in_and_answers_through_the_proxy(
    freeipa_and_moto: dict[str, str], through: dict[str, str]
) -> None:
    assert through["FREEIPA_HOST"] != freeipa_and_moto["FREEIPA_HOST"]
    client = ClientMeta(through["FREEIPA_HOST"], verify_ssl=through["FREEIPA_CA_FILE"])
    client.login(through["FREEIPA_USERNAME"], through["FREEIPA_PASSWORD"])

    found = client.user_show(a_uid=through["FREEIPA_USERNAME"])["result"]

    assert found["uid"] == [through["FREEIPA_USERNAME"]]


def test_moto_answers_through_the_proxy(
    freeipa_and_moto: dict[str, str], through: dict[str, str]
) -> None:
    assert through["AWS_ENDPOINT_URL"] != freeipa_and_moto["AWS_ENDPOINT_URL"]

    found = aws.client(through, "efs").describe_file_systems(
        FileSystemId=through["EFS_FILE_SYSTEM_ID"]
    )

    assert [each["FileSystemId"] for each in found["FileSystems"]] == [
        through["EFS_FILE_SYSTEM_ID"]
    ]


def test_a_latency_names_a_known_system_in_milliseconds() -> None:
    assert latency.parse_latencies("freeipa=60ms, aws=80ms") == {"freeipa": 0.06, "aws": 0.08}
    with pytest.raises(ValueError, match="SYSTEM=MILLISECONDSms"):
        latency.parse_latencies("ldap=60ms")
