"""The sandbox's 389 Directory Server behaves like FreeIPA's directory where AccessAdmin cares."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import ldap
import ldap.modlist
import pytest

from sandbox import directory as sandbox_directory

pytestmark = pytest.mark.stack

Connection = ldap.ldapobject.LDAPObject
Endpoints = dict[str, str]

USERS = "cn=users,cn=accounts"
GROUPS = "cn=groups,cn=accounts"


@dataclass
class Person:
    uid: str
    dn: str
    password: str


def _connect(
    endpoints: Endpoints, dn: str | None = None, password: str | None = None
) -> Connection:
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    connection.simple_bind_s(
        dn or endpoints["LDAP_BIND_DN"], password or endpoints["LDAP_BIND_PASSWORD"]
    )
    return connection


@pytest.fixture
def manager(directory: Endpoints) -> Iterator[Connection]:
    connection = _connect(directory)
    yield connection
    connection.unbind_s()


@pytest.fixture
def added(manager: Connection) -> Iterator[list[str]]:
    """DNs added by a test, removed again afterwards (children first)."""
    dns: list[str] = []
    yield dns
    for dn in reversed(dns):
        with contextlib.suppress(ldap.NO_SUCH_OBJECT):
            manager.delete_s(dn)


def _add_person(manager: Connection, added: list[str], base_dn: str, name: str) -> Person:
    uid = f"{name}-{uuid.uuid4().hex[:8]}"
    dn = f"uid={uid},{USERS},{base_dn}"
    password = f"{name}-secret-{uuid.uuid4().hex[:6]}"
    entry = {
        "objectClass": [
            b"top",
            b"person",
            b"organizationalPerson",
            b"inetOrgPerson",
            b"inetUser",
            b"posixAccount",
        ],
        "uid": [uid.encode()],
        "cn": [name.title().encode()],
        "sn": [b"Tester"],
        "uidNumber": [b"801800001"],
        "gidNumber": [b"801800001"],
        "homeDirectory": [f"/home/{uid}".encode()],
        "userPassword": [password.encode()],
    }
    manager.add_s(dn, ldap.modlist.addModlist(entry))
    added.append(dn)
    return Person(uid, dn, password)


@pytest.fixture
def alice(manager: Connection, added: list[str], directory: Endpoints) -> Person:
    return _add_person(manager, added, directory["LDAP_BASE_DN"], "alice")


@pytest.fixture
def bob(manager: Connection, added: list[str], directory: Endpoints) -> Person:
    return _add_person(manager, added, directory["LDAP_BASE_DN"], "bob")


def _schema_has(manager: Connection, attribute: str) -> bool:
    schema = manager.search_s("cn=schema", ldap.SCOPE_BASE, attrlist=["attributeTypes"])
    wanted = f"name '{attribute.lower()}'".encode()
    return any(wanted in value.lower() for value in schema[0][1]["attributeTypes"])


def test_directory_manager_binds_and_finds_freeipa_tree(
    manager: Connection, directory: Endpoints
) -> None:
    base_dn = directory["LDAP_BASE_DN"]
    for container in sandbox_directory.TREE:
        found = manager.search_s(f"{container},{base_dn}", ldap.SCOPE_BASE)
        assert found[0][0].lower() == f"{container},{base_dn}".lower()


def test_directory_listens_on_loopback_only(directory: Endpoints) -> None:
    port = urlsplit(directory["LDAP_URI"]).port
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                listening.append(address)
    assert listening == ["0100007F"]


def test_person_added_to_group_gets_member_of(
    manager: Connection, added: list[str], alice: Person, directory: Endpoints
) -> None:
    group_dn = f"cn=team-{uuid.uuid4().hex[:8]},{GROUPS},{directory['LDAP_BASE_DN']}"
    group = {
        "objectClass": [b"top", b"groupOfNames", b"posixGroup"],
        "cn": [group_dn.split(",")[0][3:].encode()],
        "gidNumber": [b"801800100"],
    }
    manager.add_s(group_dn, ldap.modlist.addModlist(group))
    added.append(group_dn)

    manager.modify_s(group_dn, [(ldap.MOD_ADD, "member", [alice.dn.encode()])])

    entry = manager.search_s(alice.dn, ldap.SCOPE_BASE, attrlist=["memberOf"])[0][1]
    assert [value.decode().lower() for value in entry["memberOf"]] == [group_dn.lower()]


def test_locked_person_cannot_bind_while_unlocked_person_can(
    manager: Connection, alice: Person, bob: Person, directory: Endpoints
) -> None:
    manager.modify_s(alice.dn, [(ldap.MOD_ADD, "nsAccountLock", [b"TRUE"])])

    with pytest.raises(ldap.UNWILLING_TO_PERFORM, match="inactivated"):
        _connect(directory, alice.dn, alice.password)
    _connect(directory, bob.dn, bob.password).unbind_s()


def test_person_cannot_read_another_persons_password(
    manager: Connection, alice: Person, bob: Person, directory: Endpoints
) -> None:
    as_bob = _connect(directory, bob.dn, bob.password)

    entry = as_bob.search_s(alice.dn, ldap.SCOPE_BASE, attrlist=["*", "userPassword"])[0][1]

    assert entry["uid"] == [alice.uid.encode()]
    assert "userPassword" not in entry
    assert "userPassword" in manager.search_s(alice.dn, ldap.SCOPE_BASE)[0][1]


def test_person_changes_own_password_but_not_anothers(
    alice: Person, bob: Person, directory: Endpoints
) -> None:
    as_bob = _connect(directory, bob.dn, bob.password)

    # A plain modify: 389-ds refuses the password-modify extended operation without TLS.
    as_bob.modify_s(bob.dn, [(ldap.MOD_REPLACE, "userPassword", [b"bob-new-password-1"])])
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        as_bob.modify_s(alice.dn, [(ldap.MOD_REPLACE, "userPassword", [b"taken-over"])])

    _connect(directory, bob.dn, "bob-new-password-1").unbind_s()
    _connect(directory, alice.dn, alice.password).unbind_s()


def test_person_cannot_read_another_persons_otp_key_or_kerberos_keys(
    manager: Connection, added: list[str], alice: Person, bob: Person, directory: Endpoints
) -> None:
    if not (_schema_has(manager, "ipatokenOTPkey") and _schema_has(manager, "krbPrincipalKey")):
        pytest.skip("FreeIPA's schema extension (sandbox/freeipa/schema) is not loaded")
    token_dn = f"ipatokenUniqueID={uuid.uuid4()},cn=otp,{directory['LDAP_BASE_DN']}"
    token = {
        "objectClass": [b"top", b"ipaToken", b"ipaTokenTOTP"],
        "ipatokenUniqueID": [token_dn.split(",")[0].split("=")[1].encode()],
        "ipatokenOwner": [alice.dn.encode()],
        "ipatokenOTPkey": [b"0123456789abcdef0123"],
    }
    manager.add_s(token_dn, ldap.modlist.addModlist(token))
    added.append(token_dn)
    manager.modify_s(
        alice.dn,
        [
            (ldap.MOD_ADD, "objectClass", [b"krbPrincipalAux"]),
            (ldap.MOD_ADD, "krbPrincipalKey", [b"\x30\x03\x02\x01\x01"]),
        ],
    )
    as_bob = _connect(directory, bob.dn, bob.password)
    as_alice = _connect(directory, alice.dn, alice.password)

    token_seen = as_bob.search_s(token_dn, ldap.SCOPE_BASE, attrlist=["*", "ipatokenOTPkey"])
    person_seen = as_bob.search_s(alice.dn, ldap.SCOPE_BASE, attrlist=["*", "krbPrincipalKey"])
    own_token = as_alice.search_s(token_dn, ldap.SCOPE_BASE, attrlist=["*", "ipatokenOTPkey"])

    # With FreeIPA's ACIs (the stand-in's) only the owner finds the token, without its key.
    assert all("ipatokenOTPkey" not in attrs for _, attrs in token_seen)
    assert all("krbPrincipalKey" not in attrs for _, attrs in person_seen)
    assert "ipatokenOTPkey" not in own_token[0][1]


def test_anonymous_search_sees_no_people(alice: Person, directory: Endpoints) -> None:
    anonymous = ldap.initialize(directory["LDAP_URI"])
    anonymous.simple_bind_s("", "")

    found = anonymous.search_s(directory["LDAP_BASE_DN"], ldap.SCOPE_SUBTREE, f"(uid={alice.uid})")

    assert found == []
