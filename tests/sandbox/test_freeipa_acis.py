"""The directory holds each permission's ACI where FreeIPA writes it, and 389-ds, bound as the
caller, refuses and allows what the stand-in refuses and allows, with the same words.

From source: permission_add writes the permission's ACI on its location entry and
permission_del removes it (ipaserver/plugins/permission.py:554-625, :1018-1121); FreeIPA relays
389-ds's refusal as `Insufficient access: <389-ds text>` (ipapython/ipaldap.py:1121-1122).
"""

from __future__ import annotations

from collections.abc import Callable

import ldap
import pytest
from python_freeipa import ClientMeta
from python_freeipa import exceptions as ipa_errors

from tests.sandbox.conftest import NEW_PASSWORD

pytestmark = pytest.mark.stack
Ldap = ldap.ldapobject.LDAPObject


def acis_of(endpoints: dict[str, str], rdns: str) -> list[str]:
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    dn = f"{rdns},{endpoints['LDAP_BASE_DN']}" if rdns else endpoints["LDAP_BASE_DN"]
    [(_, attrs)] = connection.search_s(dn, ldap.SCOPE_BASE, attrlist=["aci"])
    connection.unbind_s()
    return [text.decode() for text in attrs.get("aci", [])]


def named(acis: list[str], name: str) -> list[str]:
    return [text for text in acis if f'acl "permission:{name}"' in text]


def bound_as(endpoints: dict[str, str], uid: str) -> Ldap:
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(
        f"uid={uid},cn=users,cn=accounts,{endpoints['LDAP_BASE_DN']}", NEW_PASSWORD
    )
    return connection


def test_each_permission_has_its_aci_on_its_location_entry(admin, endpoints) -> None:
    users = acis_of(endpoints, "cn=users,cn=accounts")
    [unlock] = named(users, "System: Unlock User")
    assert '(targetattr = "krbloginfailedcount || nsaccountlock")' in unlock
    assert (
        'allow (write) groupdn = "ldap:///cn=System: Unlock User,cn=permissions,cn=pbac,' in unlock
    )
    assert named(acis_of(endpoints, ""), "System: Preserve User")

    admin.permission_add("Write titles", o_type="user", o_ipapermright=["write"], o_attrs=["title"])
    [added] = named(acis_of(endpoints, "cn=users,cn=accounts"), "Write titles")
    assert added == admin.permission_show("Write titles", o_raw=True)["result"]["aci"][0]
    admin.permission_del("Write titles")
    assert named(acis_of(endpoints, "cn=users,cn=accounts"), "Write titles") == []


def entry_dn(endpoints: dict[str, str], rdns: str) -> str:
    return f"{rdns},{endpoints['LDAP_BASE_DN']}"


# permission -> (the call through the stand-in, the same LDAP operation bound as the caller)
Case = tuple[Callable[[ClientMeta], object], Callable[[Ldap, dict[str, str]], object]]
CASES: dict[str, Case] = {
    "System: Unlock User": (
        lambda svc: svc.user_disable("pat"),
        lambda conn, ep: conn.modify_s(
            entry_dn(ep, "uid=pat,cn=users,cn=accounts"),
            [(ldap.MOD_REPLACE, "nsAccountLock", [b"TRUE"])],
        ),
    ),
    "System: Modify Users": (
        lambda svc: svc.user_mod("pat", o_title="Boss"),
        lambda conn, ep: conn.modify_s(
            entry_dn(ep, "uid=pat,cn=users,cn=accounts"),
            [(ldap.MOD_REPLACE, "title", [b"Boss"])],
        ),
    ),
    "System: Remove Users": (
        lambda svc: svc.user_del("pat"),
        lambda conn, ep: conn.delete_s(entry_dn(ep, "uid=pat,cn=users,cn=accounts")),
    ),
    "System: Add Groups": (
        lambda svc: svc.group_add("crew", o_description="Crew"),
        lambda conn, ep: conn.add_s(
            entry_dn(ep, "cn=crew,cn=groups,cn=accounts"),
            [
                ("objectClass", [b"top", b"groupofnames", b"nestedgroup", b"ipausergroup"]),
                ("cn", [b"crew"]),
            ],
        ),
    ),
}


@pytest.mark.parametrize("permission", sorted(CASES))
def test_the_directory_refuses_as_the_stand_in_does_and_allows_with_the_permission(
    permission: str, admin, person, endpoints
) -> None:
    through_stand_in, through_ldap = CASES[permission]
    person("pat")
    svc = person("svc")
    with pytest.raises(ipa_errors.Denied) as refused:
        through_stand_in(svc)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS) as directly:
        through_ldap(bound_as(endpoints, "svc"), endpoints)
    assert str(refused.value) == f"Insufficient access: {directly.value.args[0]['info'].strip()}"

    admin.privilege_add("Under test")
    admin.privilege_add_permission("Under test", o_permission=[permission])
    admin.role_add("Tester")
    admin.role_add_privilege("Tester", o_privilege=["Under test"])
    admin.role_add_member("Tester", o_user=["svc"])
    through_ldap(bound_as(endpoints, "svc"), endpoints)


def test_self_service_and_member_managers_are_decided_alike(admin, person, endpoints) -> None:
    """From source: default-aci.ldif:11 (self service leaves out mail) and :77 (a group's
    member managers write its members), as 389-ds holds them."""
    pat = person("pat")
    person("kim")
    own = entry_dn(endpoints, "uid=pat,cn=users,cn=accounts")
    as_pat = bound_as(endpoints, "pat")
    as_pat.modify_s(own, [(ldap.MOD_REPLACE, "title", [b"Robot"])])
    assert admin.user_show("pat")["result"]["title"] == ["Robot"]
    with pytest.raises(ipa_errors.Denied) as refused:
        pat.user_mod("pat", o_mail=["pat@elsewhere.test"])
    with pytest.raises(ldap.INSUFFICIENT_ACCESS) as directly:
        as_pat.modify_s(own, [(ldap.MOD_REPLACE, "mail", [b"pat@elsewhere.test"])])
    assert str(refused.value) == f"Insufficient access: {directly.value.args[0]['info'].strip()}"

    admin.group_add("crew", o_description="Crew")
    crew = entry_dn(endpoints, "cn=crew,cn=groups,cn=accounts")
    kim = entry_dn(endpoints, "uid=kim,cn=users,cn=accounts")
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        as_pat.modify_s(crew, [(ldap.MOD_ADD, "member", [kim.encode()])])
    admin.group_add_member_manager("crew", o_user=["pat"])
    as_pat.modify_s(crew, [(ldap.MOD_ADD, "member", [kim.encode()])])
    assert admin.group_show("crew")["result"]["member_user"] == ["kim"]
