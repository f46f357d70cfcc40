"""The FreeIPA connector against the stand-in over HTTPS: what a TLS failure, an unreachable
replica and FreeIPA's catch-all database error become."""

from __future__ import annotations

import socket
import time

import pytest
from python_freeipa import exceptions as ipa_errors

from onboarding.errors import PermanentError, TransientError
from onboarding.systems.freeipa.client import FreeIPA
from tests.stack import stack_services

freeipa_stack = stack_services("directory", "freeipa")


def connector(endpoints: dict[str, str], **overrides) -> FreeIPA:
    options = {
        "host": endpoints["FREEIPA_HOST"],
        "username": endpoints["FREEIPA_USERNAME"],
        "password": endpoints["FREEIPA_PASSWORD"],
        "ca_file": endpoints["FREEIPA_CA_FILE"],
        "timeout": 5,
    }
    return FreeIPA(**{**options, **overrides})


@pytest.fixture
def closed_host() -> str:
    """host:port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"localhost:{probe.getsockname()[1]}"


def test_a_certificate_that_does_not_verify_is_permanent_and_not_retried(freeipa_stack):
    # Without the IPA CA, the stand-in's certificate chains to nothing the machine trusts.
    ipa = connector(freeipa_stack, ca_file="")
    started = time.monotonic()
    with pytest.raises(PermanentError) as raised:
        ipa.ping()
    assert "TLS with FreeIPA failed (certificate verify failed)" in raised.value.message
    assert time.monotonic() - started < 5


def test_an_unreachable_replica_is_skipped_for_the_next(freeipa_stack, closed_host):
    ipa = connector(freeipa_stack, host=f"{closed_host}, {freeipa_stack['FREEIPA_HOST']}")
    assert ipa.user_find(username="admin").username == "admin"
    assert ipa.host == freeipa_stack["FREEIPA_HOST"]


def test_no_replica_answering_is_transient_and_names_each(closed_host):
    ipa = FreeIPA(
        host=f"{closed_host},{closed_host}", username="svc", password="x", ca_file="", timeout=2
    )
    with pytest.raises(TransientError) as raised:
        ipa.ping()
    assert raised.value.message.count(closed_host) == 2


def test_a_refusal_is_not_failed_over(freeipa_stack, closed_host):
    ipa = connector(freeipa_stack, host=f"{freeipa_stack['FREEIPA_HOST']},{closed_host}",
                    password="wrong")  # fmt: skip
    with pytest.raises(PermanentError, match="refused the service account"):
        ipa.ping()


@pytest.mark.parametrize(
    ("text", "transient"),
    [
        # ipapython/ipaldap.py, LDAPClient.error_handler: unmapped LDAP errors become 4203.
        ("Server is unwilling to perform: Can't delete last active token", False),
        ("Constraint violation: Password is too short", False),
        ("Server is busy: retry later", True),
        ("Can't contact LDAP server: ", True),
    ],
)
def test_freeipa_database_error_is_transient_only_when_the_directory_is_unavailable(
    text, transient
):
    # Built, not received: the stand-in cannot make its directory busy on demand.
    error = ipa_errors.error_codes.get(4203, ipa_errors.BadRequest)(message=text, code=4203)
    translated = FreeIPA._translate(error, "otptoken_del")
    assert isinstance(translated, TransientError) is transient
    assert isinstance(translated, PermanentError) is not transient


def test_many_usernames_are_looked_up_in_one_batch_per_hundred(freeipa_stack):
    ipa = connector(freeipa_stack)
    names = ["admin", *(f"nobody{n}" for n in range(149))]
    ipa.ping()
    before = ipa.round_trips

    found = ipa.users_find(usernames=names)

    assert ipa.round_trips - before == 2  # 150 look-ups: two batches of at most 100
    assert found["admin"].username == "admin"
    assert [name for name, user in found.items() if user is not None] == ["admin"]
    assert len(found) == 150
