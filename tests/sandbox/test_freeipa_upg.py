"""user_add reads the UPG Definition as the caller, and 389-ds decides whether it may.

From source, not recorded: ipaserver/plugins/user.py:556 calls ldap2.has_upg()
(ipaserver/plugins/ldap2.py:252-284), which searches the definition with the caller's bind and
raises ACIError when its originfilter cannot be read; only the managed permission
"System: Read UPG Definition" (user.py:262-271, default privilege User Administrators) grants it.
"""

from __future__ import annotations

import ldap
import pytest
from python_freeipa import ClientMeta
from python_freeipa import exceptions as ipa_errors

from tests.sandbox.conftest import NEW_PASSWORD

pytestmark = pytest.mark.stack
UPG_REFUSED = (
    "Insufficient access: Could not read UPG Definition originfilter. Check your permissions."
)
EVERYTHING_BUT_UPG = [
    "System: Add Users",
    "System: Add User to default group",
]


def upg_definition(endpoints: dict[str, str]) -> str:
    return f"cn=UPG Definition,cn=Definitions,cn=Managed Entries,cn=etc,{endpoints['LDAP_BASE_DN']}"


def holding(admin: ClientMeta, uid: str, permissions: list[str]) -> None:
    """uid holds exactly these permissions, through one role and one privilege."""
    admin.privilege_add("Adding people")
    admin.privilege_add_permission("Adding people", o_permission=permissions)
    admin.role_add("Onboarding")
    admin.role_add_privilege("Onboarding", o_privilege=["Adding people"])
    admin.role_add_member("Onboarding", o_user=[uid])


def as_manager(endpoints: dict[str, str]) -> ldap.ldapobject.LDAPObject:
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    return connection


def private_group(endpoints: dict[str, str], uid: str) -> dict[str, list[bytes]] | None:
    """The user private group's entry, as the directory holds it (group_show hides it)."""
    dn = f"cn={uid},cn=groups,cn=accounts,{endpoints['LDAP_BASE_DN']}"
    try:
        [(_, attrs)] = as_manager(endpoints).search_s(dn, ldap.SCOPE_BASE)
    except ldap.NO_SUCH_OBJECT:
        return None
    return attrs


def bound_as(endpoints: dict[str, str], uid: str) -> ldap.ldapobject.LDAPObject:
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(
        f"uid={uid},cn=users,cn=accounts,{endpoints['LDAP_BASE_DN']}", NEW_PASSWORD
    )
    return connection


def test_adding_a_user_without_read_upg_definition_fails_before_anything_is_written(
    admin, person, endpoints
) -> None:
    svc = person("svc")
    holding(admin, "svc", EVERYTHING_BUT_UPG)
    with pytest.raises(ipa_errors.Denied) as error:
        svc.user_add("kim", o_givenname="K", o_sn="M", o_cn="K M")
    assert error.value.code == 2100
    assert str(error.value) == UPG_REFUSED
    with pytest.raises(ipa_errors.NotFound):
        admin.user_show("kim")
    assert private_group(endpoints, "kim") is None


def test_adding_a_user_with_read_upg_definition_succeeds(admin, person, endpoints) -> None:
    svc = person("svc")
    holding(admin, "svc", [*EVERYTHING_BUT_UPG, "System: Read UPG Definition"])
    added = svc.user_add("kim", o_givenname="K", o_sn="M", o_cn="K M")["result"]
    assert added["gidnumber"] == added["uidnumber"]
    group = private_group(endpoints, "kim")
    assert group is not None
    assert [number.decode() for number in group["gidNumber"]] == added["uidnumber"]


def test_the_directory_itself_refuses_the_read_to_a_user_without_the_permission(
    admin, person, endpoints
) -> None:
    """The ACI lives in 389-ds: the same read over plain LDAP, bound as the user."""
    person("svc")
    person("pat")
    holding(admin, "svc", ["System: Read UPG Definition"])
    read = (upg_definition(endpoints), ldap.SCOPE_BASE, "(objectClass=*)", ["originFilter"])
    assert bound_as(endpoints, "pat").search_s(*read) == []
    [(_, attrs)] = bound_as(endpoints, "svc").search_s(*read)
    assert attrs["originFilter"] == [b"(&(objectclass=posixAccount)(!(description=__no_upg__)))"]


def test_admins_read_the_definition_and_noprivate_does_not_read_it(admin, person) -> None:
    """Admins through "Admin can manage any entry" (install/updates/20-aci.update:67);
    --noprivate skips has_upg (user.py:556, 613, 698), so only the add itself is refused."""
    assert admin.user_add("kim", o_givenname="K", o_sn="M", o_cn="K M")["summary"] == (
        'Added user "kim"'
    )
    svc = person("svc")
    with pytest.raises(ipa_errors.Denied) as error:
        svc.user_add(
            "lee", o_givenname="L", o_sn="E", o_cn="L E", o_noprivate=True, o_gidnumber=5000
        )
    assert "Insufficient 'add' privilege to add the entry 'uid=lee," in str(error.value)


def test_with_user_private_groups_disabled_no_private_group_is_made(
    admin, person, endpoints
) -> None:
    """ldap2.py:282: "(objectclass=disable)" in the originfilter turns UPG off."""
    directory = as_manager(endpoints)
    disabled = b"(&(objectclass=posixAccount)(objectclass=disable))"
    directory.modify_s(upg_definition(endpoints), [(ldap.MOD_REPLACE, "originFilter", [disabled])])
    admin.group_add("kim", o_description="A group named like the new user")
    # Then the new user takes the default group's gidNumber, and ipausers has none
    # (user.py:611-629).
    with pytest.raises(ipa_errors.NotFound, match="Default group for new users is not POSIX"):
        admin.user_add("kim", o_givenname="K", o_sn="M", o_cn="K M")
    added = admin.user_add("kim", o_givenname="K", o_sn="M", o_cn="K M", o_gidnumber=5000)
    assert added["result"]["gidnumber"] == ["5000"]
    assert admin.group_show("kim")["result"]["description"] == ["A group named like the new user"]


def test_a_missing_manager_is_refused_after_the_upg_read(admin, person) -> None:
    """baseuser.py:547-570 normalize_manager, called after has_upg (user.py:646-647)."""
    svc = person("svc")
    with pytest.raises(ipa_errors.Denied, match="Could not read UPG Definition"):
        svc.user_add("kim", o_givenname="K", o_sn="M", o_cn="K M", o_manager="nobody")
    holding(admin, "svc", ["System: Read UPG Definition"])
    with pytest.raises(ipa_errors.NotFound, match="manager nobody not found"):
        svc.user_add("kim", o_givenname="K", o_sn="M", o_cn="K M", o_manager="nobody")
    with pytest.raises(ipa_errors.NotFound):
        admin.user_show("kim")
