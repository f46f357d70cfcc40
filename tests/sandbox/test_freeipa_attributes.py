"""Which attributes each user, stage user and group command returns, from FreeIPA's source.

The recordings only hold calls made with `all`; these cover the calls made without it, where
FreeIPA reads default_attributes (baseuser.py:235-247, group.py:212-216), user_find reads
search_display_attributes (baseuser.py:248-252), and the adds read the whole entry back.

python-freeipa's ClientMeta sends all=True unless told otherwise, hence the o_all=False.
"""

from __future__ import annotations

from typing import Any

import pytest
from python_freeipa import ClientMeta

pytestmark = pytest.mark.stack
PASSWORD = "first-Password-1"


def add_person(admin: ClientMeta, uid: str, **options: Any) -> dict[str, Any]:
    return admin.user_add(
        uid,
        o_givenname="Test",
        o_sn="Person",
        o_cn="Test Person",
        o_userpassword=PASSWORD,
        **options,
    )["result"]


def test_user_add_without_all_returns_the_entry_it_read_back(admin: ClientMeta) -> None:
    entry = add_person(admin, "alice", o_all=False)
    # user.py:697-717: the whole entry less the SID; preserved only with all (user.py:514-521).
    assert {"objectclass", "ipauniqueid", "mepmanagedentry", "cn", "krbextradata"} <= set(entry)
    assert {"ipantsecurityidentifier", "preserved", "nsaccountlock"}.isdisjoint(entry)
    assert entry["memberof_group"] == ["ipausers"]
    assert entry["has_password"] is True
    assert "dn" in entry


def test_user_show_without_all_returns_default_attributes(admin: ClientMeta) -> None:
    add_person(admin, "alice")
    entry = admin.user_show("alice", o_all=False)["result"]
    assert set(entry) == {
        "uid",
        "givenname",
        "sn",
        "homedirectory",
        "loginshell",
        "uidnumber",
        "gidnumber",
        "mail",
        "krbprincipalname",
        "krbcanonicalname",
        "nsaccountlock",
        "has_password",
        "has_keytab",
        "memberof_group",
        "dn",
    }
    shown_all = admin.user_show("alice", o_all=True)["result"]
    assert shown_all["preserved"] is False
    assert {"objectclass", "ipauniqueid", "cn", "krblastpwdchange"} <= set(shown_all)
    no_members = admin.user_show("alice", o_all=False, o_no_members=True)["result"]
    assert "memberof_group" not in no_members


def test_indirect_groups_and_roles_are_shown_apart(admin: ClientMeta) -> None:
    add_person(admin, "alice")
    admin.group_add("inner")
    admin.group_add("outer")
    admin.group_add_member("outer", o_group="inner")
    admin.group_add_member("inner", o_user="alice")
    admin.role_add("Helpdesk Leads")
    admin.role_add_member("Helpdesk Leads", o_group="inner")
    entry = admin.user_show("alice", o_all=False)["result"]
    assert sorted(entry["memberof_group"]) == ["inner", "ipausers"]
    assert entry["memberofindirect_group"] == ["outer"]
    assert entry["memberofindirect_role"] == ["Helpdesk Leads"]
    assert "memberof_role" not in entry
    # user_find with all reads memberof but not memberofindirect: one list of every group.
    found = admin.user_find(o_uid="alice", o_all=True)["result"][0]
    assert sorted(found["memberof_group"]) == ["inner", "ipausers", "outer"]
    assert "memberofindirect_group" not in found


def test_user_find_without_all_returns_search_display_attributes(admin: ClientMeta) -> None:
    add_person(admin, "alice", o_title="Engineer")
    entry = admin.user_find(o_uid="alice", o_all=False)["result"][0]
    assert set(entry) == {
        "uid",
        "givenname",
        "sn",
        "homedirectory",
        "loginshell",
        "uidnumber",
        "gidnumber",
        "mail",
        "title",
        "krbprincipalname",
        "krbcanonicalname",
        "nsaccountlock",
        "dn",
    }


def test_user_mod_without_all_gives_no_dn_and_shows_what_changed(admin: ClientMeta) -> None:
    add_person(admin, "alice")
    entry = admin.user_mod("alice", o_displayname="Alice P", o_all=False)["result"]
    # baseldap.py:1605 (entry_to_dict adds dn only with all); the changed attribute is read.
    assert "dn" not in entry
    assert entry["displayname"] == ["Alice P"]
    assert "preserved" not in entry
    assert "dn" in admin.user_mod("alice", o_title="Lead", o_all=True)["result"]


def test_preserved_user_is_shown_preserved_without_all(admin: ClientMeta) -> None:
    add_person(admin, "alice")
    admin.user_del("alice", o_preserve=True)
    entry = admin.user_show("alice", o_all=False)["result"]
    assert entry["preserved"] is True


def test_group_add_without_all_reads_back_what_it_wrote(admin: ClientMeta) -> None:
    entry = admin.group_add("staff", o_description="Staff", o_all=False)["result"]
    assert set(entry) == {"cn", "description", "gidnumber", "objectclass", "ipauniqueid", "dn"}
    shown = admin.group_show("staff", o_all=False)["result"]
    assert set(shown) == {"cn", "description", "gidnumber", "dn"}


def test_stage_user_mod_changes_it_and_never_shows_the_lock(admin: ClientMeta) -> None:
    admin.stageuser_add("bob", o_givenname="Bob", o_sn="Stage", o_cn="Bob Stage")
    result = admin.stageuser_mod("bob", o_title="Intern", o_all=False)
    assert result["summary"] == 'Modified stage user "bob"'
    entry = result["result"]
    assert entry["title"] == ["Intern"]
    assert {"nsaccountlock", "dn", "preserved"}.isdisjoint(entry)
    found = admin.stageuser_find(o_uid="bob", o_all=False)["result"][0]
    assert found["nsaccountlock"] is True
    assert "title" in found


def test_admin_reading_with_all_sees_kerberos_and_managed_entry_attributes(
    admin: ClientMeta,
) -> None:
    add_person(admin, "alice")
    # "Admin read-only attributes" lets admins read krbExtraData (install/updates/20-aci.update:74)
    # and `all` reads '*', so what user_add returned comes back from user_show and user_find.
    shown = admin.user_show("alice", o_all=True)["result"]
    assert {"krbextradata", "mepmanagedentry", "krblastpwdchange"} <= set(shown)
    found = admin.user_find(o_uid="alice", o_all=True)["result"][0]
    assert {"krbextradata", "mepmanagedentry"} <= set(found)


ED25519_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0cq3b1FZCmHq9Y6Fq1m0YlG0Q0Bq7pQx8wzJm2nG9 pat@laptop"
)


def test_ssh_key_fingerprints_are_shown_without_the_keys(admin: ClientMeta) -> None:
    """baseuser.py:836-842, ipalib/util.py:525-550: the keys are read to show their SHA256
    fingerprints (as OpenSSH prints them, ipapython/ssh.py:207-210), and left out unless
    asked for."""
    add_person(admin, "pat", o_ipasshpubkey=[ED25519_KEY])
    entry = admin.user_show("pat", o_all=False)["result"]
    expected = "SHA256:z1PkfJ+J0krtXOsuNFtorCvkLmQBOcGpEcUx/xIG4bQ pat@laptop (ssh-ed25519)"
    assert entry["sshpubkeyfp"] == [expected]
    assert "ipasshpubkey" not in entry
    assert admin.user_show("pat")["result"]["ipasshpubkey"] == [ED25519_KEY]
    assert admin.user_find("pat", o_all=False)["result"][0]["sshpubkeyfp"] == [expected]


def test_a_nested_group_shows_the_groups_it_is_in_directly_and_not(admin: ClientMeta) -> None:
    """group.py:218-225 and baseldap.py:800-830: memberof_group and memberofindirect_group."""
    for name in ("inner", "outer", "top"):
        admin.group_add(name, o_description=name)
    admin.group_add_member("outer", o_group=["inner"])
    admin.group_add_member("top", o_group=["outer"])
    add_person(admin, "pat")
    admin.group_add_member("inner", o_user=["pat"])
    inner = admin.group_show("inner")["result"]
    assert inner["memberof_group"] == ["outer"]
    assert inner["memberofindirect_group"] == ["top"]
    quiet = admin.group_show("inner", o_all=False, o_no_members=True)["result"]
    assert "memberof_group" not in quiet
    pat = admin.user_show("pat")["result"]
    assert pat["memberof_group"] == ["ipausers", "inner"]
    assert sorted(pat["memberofindirect_group"]) == ["outer", "top"]
