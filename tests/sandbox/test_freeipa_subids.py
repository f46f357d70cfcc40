"""Subordinate ids for new users (ipaUserDefaultSubordinateId), from FreeIPA's source.

user_add runs subid_generate as the caller (ipaserver/plugins/user.py:717-729), an add that
only "Subordinate ID Administrators" may make (install/updates/73-subid.update:68); user_del
deletes the user's subordinate ids as the caller (user.py:843-851, "System: Remove Subordinate
Ids", subid.py:123-129).
"""

from __future__ import annotations

import ldap
import pytest
from python_freeipa import exceptions as ipa_errors

from tests.sandbox.test_freeipa_permissions import give_role, insufficient

pytestmark = pytest.mark.stack
SUBID_START = 2**31


@pytest.fixture
def directory(endpoints):
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    yield connection
    connection.unbind_s()


@pytest.fixture
def subids_on(endpoints, directory) -> None:
    config = f"cn=ipaConfig,cn=etc,{endpoints['LDAP_BASE_DN']}"
    directory.modify_s(config, [(ldap.MOD_REPLACE, "ipaUserDefaultSubordinateId", [b"TRUE"])])


def subids_of(directory, endpoints, uid: str) -> list[dict]:
    base = endpoints["LDAP_BASE_DN"]
    owner = f"uid={uid},cn=users,cn=accounts,{base}"
    found = directory.search_s(
        f"cn=subids,cn=accounts,{base}", ldap.SCOPE_ONELEVEL, f"(ipaOwner={owner})"
    )
    return [attrs for _, attrs in found]


def add_kim(client):
    return client.user_add("kim", o_givenname="Kim", o_sn="Moss", o_cn="Kim Moss")


def test_new_users_get_no_subordinate_ids_unless_configured(admin, endpoints, directory) -> None:
    added = add_kim(admin)["result"]
    assert "memberof_subid" not in added
    assert subids_of(directory, endpoints, "kim") == []


def test_a_new_user_gets_a_whole_range_of_subordinate_ids(
    admin, endpoints, directory, subids_on
) -> None:
    added = add_kim(admin)["result"]
    add_kim_too = admin.user_add("lee", o_givenname="Lee", o_sn="Ray", o_cn="Lee Ray")
    [kim] = subids_of(directory, endpoints, "kim")
    [lee] = subids_of(directory, endpoints, "lee")
    assert added["memberof_subid"] == [kim["ipaUniqueID"][0].decode()]
    assert add_kim_too["result"]["memberof_subid"] == [lee["ipaUniqueID"][0].decode()]
    starts = sorted(int(s["ipaSubUidNumber"][0]) for s in (kim, lee))
    assert starts[0] >= SUBID_START
    assert starts[1] - starts[0] == 65536
    assert kim["ipaSubUidNumber"] == kim["ipaSubGidNumber"]
    assert kim["ipaSubUidCount"] == kim["ipaSubGidCount"] == [b"65536"]


def test_user_administrators_alone_add_the_user_then_are_refused_the_subordinate_ids(
    admin, person, endpoints, directory, subids_on
) -> None:
    svc = person("svc")
    give_role(admin, "svc", ["User Administrators", "Group Administrators"])
    with pytest.raises(ipa_errors.Denied) as error:
        add_kim(svc)
    message = insufficient(error)
    assert message.startswith("Insufficient access: Insufficient 'add' privilege to add the entry")
    assert f",cn=subids,cn=accounts,{endpoints['LDAP_BASE_DN']}'." in message
    assert admin.user_show("kim")["result"]["memberof_group"] == ["ipausers"]
    assert subids_of(directory, endpoints, "kim") == []


def test_subordinate_id_administrators_may_add_them(
    admin, person, endpoints, directory, subids_on
) -> None:
    svc = person("svc")
    give_role(
        admin,
        "svc",
        ["User Administrators", "Group Administrators", "Subordinate ID Administrators"],
    )
    assert "memberof_subid" in add_kim(svc)["result"]
    assert len(subids_of(directory, endpoints, "kim")) == 1


def test_deleting_a_user_deletes_their_subordinate_ids_as_the_caller(
    admin, person, endpoints, directory, subids_on
) -> None:
    add_kim(admin)
    admin.user_add("lee", o_givenname="Lee", o_sn="Ray", o_cn="Lee Ray")
    svc = person("svc")
    admin.privilege_add("Removers")
    admin.privilege_add_permission("Removers", o_permission=["System: Remove Users"])
    give_role(admin, "svc", ["Removers"])
    with pytest.raises(ipa_errors.Denied) as error:
        svc.user_del("kim")
    assert "Insufficient 'delete' privilege to delete the entry 'ipauniqueid=" in insufficient(
        error
    )
    assert admin.user_show("kim")["result"]["uid"] == ["kim"]
    assert len(subids_of(directory, endpoints, "kim")) == 1

    admin.privilege_add_permission("Removers", o_permission=["System: Remove Subordinate Ids"])
    svc.user_del("kim")
    assert subids_of(directory, endpoints, "kim") == []
    admin.user_del("lee")
    assert subids_of(directory, endpoints, "lee") == []
