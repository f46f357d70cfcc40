"""Reads, password changes and stage moves as the caller: 389-ds decides, from FreeIPA's ACIs.

FreeIPA's framework binds as the caller for every search and read (ipaserver/plugins/ldap2.py),
so what a caller sees is what 389-ds lets it read and search; the password extended operation
asks 389-ds for write on userPassword and krbPrincipalKey (ipa_pwd_extop.c:501-556);
stageuser_activate and user_stage add and delete entries as the caller (stageuser.py:742-760,
user.py:1075-1150).
"""

from __future__ import annotations

import ldap
import pytest
from python_freeipa import exceptions as ipa_errors

from tests.sandbox.conftest import NEW_PASSWORD
from tests.sandbox.test_freeipa_permissions import give_role, insufficient

pytestmark = pytest.mark.stack


def test_a_find_shows_only_the_attributes_a_permission_lets_the_caller_read(admin, person) -> None:
    """Stage users are readable by nobody by default; a permission naming a few attributes
    shows those and no others."""
    admin.stageuser_add("kim", o_givenname="Kim", o_sn="Moss", o_cn="Kim Moss", o_title="Boss")
    svc = person("svc")
    assert svc.stageuser_find()["count"] == 0
    admin.permission_add(
        "Read staged names",
        o_type="stageuser",
        o_ipapermright=["read", "search", "compare"],
        o_attrs=["objectclass", "uid", "title"],
    )
    admin.privilege_add("Staged names")
    admin.privilege_add_permission("Staged names", o_permission=["Read staged names"])
    give_role(admin, "svc", ["Staged names"])
    [found] = svc.stageuser_find(o_all=True)["result"]
    assert found["uid"] == ["kim"]
    assert found["title"] == ["Boss"]
    assert "sn" not in found
    assert "mail" not in found
    assert "sn" in admin.stageuser_find(o_all=True)["result"][0]


def test_a_filter_on_an_attribute_without_the_search_right_matches_nothing(admin, person) -> None:
    """389-ds checks the search right on each attribute of the filter (acl.c
    test_filter_access): read alone shows sn but does not let the caller find by it."""
    admin.stageuser_add("kim", o_givenname="Kim", o_sn="Moss", o_cn="Kim Moss")
    svc = person("svc")
    admin.permission_add(
        "Find staged users",
        o_type="stageuser",
        o_ipapermright=["read", "search", "compare"],
        o_attrs=["objectclass", "uid"],
    )
    admin.permission_add(
        "Read staged surnames", o_type="stageuser", o_ipapermright=["read"], o_attrs=["sn"]
    )
    admin.privilege_add("Staged readers")
    admin.privilege_add_permission(
        "Staged readers", o_permission=["Find staged users", "Read staged surnames"]
    )
    give_role(admin, "svc", ["Staged readers"])
    [found] = svc.stageuser_find(o_uid="kim")["result"]
    assert found["sn"] == ["Moss"]
    assert svc.stageuser_find(o_sn="Moss")["count"] == 0
    assert admin.stageuser_find(o_sn="Moss")["count"] == 1


def test_nsaccountlock_is_false_for_a_caller_who_cannot_read_it(admin, person) -> None:
    """baseuser.py:109-114 convert_nsaccountlock: absent from what the caller read, it is
    shown False. Everybody reads it on active users ("System: Read User Kerberos Attributes",
    user.py:233-242), so a disabled user shows True to anyone; only admins see staged users'."""
    person("pat")
    admin.user_disable("pat")
    svc = person("svc")
    assert svc.user_show("pat")["result"]["nsaccountlock"] is True
    assert svc.user_find("pat")["result"][0]["nsaccountlock"] is True


def _password_writers(admin, attrs: list[str]) -> None:
    admin.permission_add("Write passwords", o_type="user", o_ipapermright=["write"], o_attrs=attrs)
    admin.privilege_add("Password writers")
    admin.privilege_add_permission("Password writers", o_permission=["Write passwords"])


def test_passwd_for_another_user_needs_write_on_the_kerberos_keys_too(admin, person) -> None:
    """ipa_pwd_extop.c:501-556 asks 389-ds for write on userPassword, then on krbPrincipalKey;
    user_mod's modify needs only the first."""
    person("pat")
    svc = person("svc")
    _password_writers(admin, ["userpassword"])
    give_role(admin, "svc", ["Password writers"])
    with pytest.raises(ipa_errors.Denied) as error:
        svc.passwd("pat", "third-Password-3", "CHANGING_PASSWORD_FOR_ANOTHER_USER")
    assert insufficient(error) == "Insufficient access: Insufficient access rights"
    assert svc.user_mod("pat", o_userpassword="third-Password-3")["value"] == "pat"

    admin.privilege_add_permission(
        "Password writers", o_permission=["System: Change User password"]
    )
    assert svc.passwd("pat", "fourth-Password-4", "CHANGING_PASSWORD_FOR_ANOTHER_USER")["result"]


def test_user_mod_password_without_the_write_is_refused_and_the_password_stays(
    admin, person, endpoints
) -> None:
    person("pat")
    svc = person("svc")
    give_role(admin, "svc", ["Modify Group membership"])
    with pytest.raises(ipa_errors.Denied) as error:
        svc.user_mod("pat", o_userpassword="third-Password-3")
    assert insufficient(error) == (
        "Insufficient access: Insufficient 'write' privilege to the 'userPassword' attribute "
        "of entry 'uid=pat,cn=users,cn=accounts,dc=example,dc=test'."
    )
    connection = ldap.initialize(endpoints["LDAP_URI"])
    dn = f"uid=pat,cn=users,cn=accounts,{endpoints['LDAP_BASE_DN']}"
    connection.simple_bind_s(dn, NEW_PASSWORD)
    connection.unbind_s()


def test_activating_without_the_add_right_changes_nothing(admin, person) -> None:
    """stageuser.py:742-760: the active entry is added as the caller; refused, the stage user
    stays and nobody is active."""
    admin.stageuser_add("lee", o_givenname="Lee", o_sn="Ray", o_cn="Lee Ray")
    svc = person("svc")
    give_role(admin, "svc", ["Stage User Administrators"])
    with pytest.raises(ipa_errors.Denied) as error:
        svc.stageuser_activate("lee")
    assert insufficient(error) == (
        "Insufficient access: Insufficient 'add' privilege to add the entry "
        "'uid=lee,cn=users,cn=accounts,dc=example,dc=test'."
    )
    assert admin.stageuser_show("lee")["result"]["uid"] == ["lee"]
    with pytest.raises(ipa_errors.NotFound):
        admin.user_show("lee")


def test_activating_without_the_staged_delete_right_takes_the_active_user_back(
    admin, person
) -> None:
    """stageuser.py:748-760: a refused delete of the stage user deletes the new active one."""
    admin.stageuser_add("lee", o_givenname="Lee", o_sn="Ray", o_cn="Lee Ray")
    svc = person("svc")
    admin.privilege_add("Activators")
    admin.privilege_add_permission(
        "Activators",
        o_permission=[
            "System: Read Stage Users",
            "System: Add Users",
            "System: Remove Users",
            "System: Modify Group Membership",
        ],
    )
    give_role(admin, "svc", ["Activators"])
    with pytest.raises(ipa_errors.Denied) as error:
        svc.stageuser_activate("lee")
    assert "Insufficient 'delete' privilege to delete the entry 'uid=lee,cn=staged users" in (
        insufficient(error)
    )
    assert admin.stageuser_show("lee")["result"]["uid"] == ["lee"]
    with pytest.raises(ipa_errors.NotFound):
        admin.user_show("lee")
    assert admin.group_find(o_private=True, o_cn="lee")["count"] == 0


def test_staging_a_preserved_user_without_the_add_right_changes_nothing(admin, person) -> None:
    """user.py:1075-1150: stageuser_add as the caller comes first."""
    person("pat")
    admin.user_del("pat", o_preserve=True)
    svc = person("svc")
    admin.privilege_add("Preserved readers")
    admin.privilege_add_permission(
        "Preserved readers",
        o_permission=["System: Read Preserved Users", "System: Remove preserved User"],
    )
    give_role(admin, "svc", ["Preserved readers"])
    with pytest.raises(ipa_errors.Denied) as error:
        svc.user_stage("pat")
    assert "Insufficient 'add' privilege to add the entry 'uid=pat,cn=staged users" in (
        insufficient(error)
    )
    assert admin.user_show("pat")["result"]["preserved"] is True
    with pytest.raises(ipa_errors.NotFound):
        admin.stageuser_show("pat")


def test_staging_with_stage_user_administrators_moves_the_user(admin, person) -> None:
    person("pat")
    admin.user_del("pat", o_preserve=True)
    svc = person("svc")
    give_role(admin, "svc", ["Stage User Administrators"])
    assert svc.user_stage("pat")["summary"] == 'Staged user account "pat"'
    assert admin.stageuser_show("pat")["result"]["nsaccountlock"] is True
    with pytest.raises(ipa_errors.NotFound):
        admin.user_show("pat")
