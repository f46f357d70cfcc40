"""FreeIPA's default permissions for callers outside `admins`, from FreeIPA's source.

The rules and where FreeIPA states them are in docs/freeipa-permissions.md; these tests use
the stand-in the way a least-privilege service account would: first with no role, then with
a role an admin gives it through the PBAC commands.
"""

from __future__ import annotations

import ldap
import pytest
from python_freeipa import ClientMeta
from python_freeipa import exceptions as ipa_errors

from tests.sandbox.conftest import NEW_PASSWORD, PASSWORD

pytestmark = pytest.mark.stack
DEFAULT_PRIVILEGES = ["User Administrators", "Group Administrators", "Stage User Administrators"]
TOKEN_ATTRIBUTES = [
    "objectclass",
    "ipatokenuniqueid",
    "description",
    "ipatokenowner",
    "managedby",
    "ipatokendisabled",
    "ipatokenotpalgorithm",
    "ipatokenotpdigits",
    "ipatokentotptimestep",
]


def otp_permission(admin: ClientMeta, endpoints: dict[str, str]) -> dict:
    """What an admin runs to let a service account manage everybody's tokens.

    `type=otptoken` is refused (see test below), so the subtree and filter are given.
    """
    return admin.permission_add(
        "Manage OTP tokens",
        o_ipapermright=["add", "delete", "read", "search", "compare", "write"],
        o_ipapermlocation=f"cn=otp,{endpoints['LDAP_BASE_DN']}",
        o_extratargetfilter="(objectclass=ipatoken)",
        o_attrs=TOKEN_ATTRIBUTES,
    )


def give_role(admin: ClientMeta, uid: str, privileges: list[str]) -> None:
    admin.role_add("AccessAdmin service", o_description="Least-privilege service account")
    added = admin.role_add_privilege("AccessAdmin service", o_privilege=privileges)
    assert added["failed"] == {"member": {"privilege": []}}
    assert admin.role_add_member("AccessAdmin service", o_user=[uid])["completed"] == 1


def insufficient(error: pytest.ExceptionInfo) -> str:
    assert error.value.code == 2100
    message = str(error.value)
    assert message.startswith("Insufficient access: "), message
    return message


def test_user_without_a_role_is_refused_every_write_with_aci_error(admin, person) -> None:
    """From source: each write goes to 389-ds as the caller; a refusal is 2100 ACIError."""
    person("pat")
    pat_token = admin.otptoken_add(o_ipatokenowner="pat", o_description="pat's")["result"]
    admin.group_add("crew", o_description="Crew")
    svc = person("svc")
    refused = {
        "user_add": lambda: svc.user_add("kim", o_givenname="K", o_sn="M", o_cn="K M"),
        "user_add --noprivate": lambda: svc.user_add(
            "kim", o_givenname="K", o_sn="M", o_cn="K M", o_noprivate=True, o_gidnumber=5000
        ),
        "user_mod": lambda: svc.user_mod("pat", o_title="Boss"),
        "user_disable": lambda: svc.user_disable("pat"),
        "user_del": lambda: svc.user_del("pat"),
        "user_del --preserve": lambda: svc.user_del("pat", o_preserve=True),
        "stageuser_add": lambda: svc.stageuser_add("kim", o_givenname="K", o_sn="M", o_cn="K M"),
        "group_add": lambda: svc.group_add("other", o_description="Other"),
        "group_del": lambda: svc.group_del("crew"),
        "otptoken_add for another user": lambda: svc.otptoken_add(o_ipatokenowner="pat"),
        "otptoken_del": lambda: svc.otptoken_del(pat_token["ipatokenuniqueid"][0]),
        "passwd for another user": lambda: svc.passwd(
            "pat", "third-Password-3", "CHANGING_PASSWORD_FOR_ANOTHER_USER"
        ),
        "permission_add": lambda: svc.permission_add(
            "mine", o_ipapermright=["write"], o_type="user", o_attrs=["title"]
        ),
        "privilege_add": lambda: svc.privilege_add("mine"),
        "role_add": lambda: svc.role_add("mine"),
    }
    messages = {}
    for name, call in refused.items():
        with pytest.raises(ipa_errors.Denied) as error:
            call()
        messages[name] = insufficient(error)
    # user_add reads the UPG Definition as the caller before it adds anything
    # (user.py:556, ldap2.py:252-284); --noprivate skips that read.
    assert messages["user_add"] == (
        "Insufficient access: Could not read UPG Definition originfilter. Check your permissions."
    )
    assert messages["user_add --noprivate"] == (
        "Insufficient access: Insufficient 'add' privilege to add the entry "
        "'uid=kim,cn=users,cn=accounts,dc=example,dc=test'."
    )
    assert "'write' privilege to the 'nsAccountLock' attribute" in messages["user_disable"]
    assert (
        "'moddn' privilege to move an entry to 'cn=deleted users,"
        in messages["user_del --preserve"]
    )
    assert messages["passwd for another user"] == "Insufficient access: Insufficient access rights"
    assert admin.user_show("pat")["result"]["nsaccountlock"] is False


def test_member_changes_without_rights_are_reported_per_member(admin, person) -> None:
    """From source: group_add_member and friends never raise; the refusal is in `failed`."""
    person("pat")
    admin.group_add("crew", o_description="Crew")
    svc = person("svc")
    for call, kind in (
        (svc.group_add_member, "member"),
        (svc.group_add_member_manager, "membermanager"),
    ):
        result = call("crew", o_user=["pat"])
        assert result["completed"] == 0
        [[name, reason]] = result["failed"][kind]["user"]
        assert name == "pat"
        assert reason.startswith("Insufficient access: Insufficient 'write' privilege")
    assert "member_user" not in admin.group_show("crew")["result"]


def test_user_without_a_role_sees_no_other_users_tokens(admin, person) -> None:
    """From source: token ACIs let only owner, managers and admins read a token (count 0)."""
    person("pat")
    token_id = admin.otptoken_add(o_ipatokenowner="pat")["result"]["ipatokenuniqueid"][0]
    svc = person("svc")
    assert svc.otptoken_find(o_ipatokenowner="pat") == {
        "result": [],
        "count": 0,
        "truncated": False,
        "summary": "0 OTP tokens matched",
    }
    assert svc.otptoken_find()["count"] == 0
    with pytest.raises(ipa_errors.NotFound, match=f"{token_id}: OTP token not found"):
        svc.otptoken_show(token_id)
    assert admin.otptoken_find(o_ipatokenowner="pat")["count"] == 1


def test_user_without_a_role_cannot_see_staged_preserved_users_or_roles(admin, person) -> None:
    """From source: those need Stage User Administrators or RBAC Readers; others see nothing."""
    admin.stageuser_add("kim", o_givenname="K", o_sn="M", o_cn="K M")
    person("pat")
    admin.user_del("pat", o_preserve=True)
    svc = person("svc")
    assert svc.stageuser_find()["count"] == 0
    with pytest.raises(ipa_errors.NotFound, match="kim: stage user not found"):
        svc.stageuser_show("kim")
    with pytest.raises(ipa_errors.NotFound, match="pat: user not found"):
        svc.user_show("pat")
    with pytest.raises(ipa_errors.NotFound, match="pat: user not found"):
        svc.user_undel("pat")
    with pytest.raises(ipa_errors.NotFound, match="User Administrator: role not found"):
        svc.role_show("User Administrator")
    assert svc.user_find(o_preserved=True)["count"] == 0


def test_user_reads_others_without_secrets_and_edits_only_self_service_attributes(
    admin, person
) -> None:
    """From source: everybody reads users' standard attributes; self-service excludes mail."""
    person("pat")
    svc = person("svc")
    shown = svc.user_show("pat", o_all=True)["result"]
    assert shown["uid"] == ["pat"]
    assert shown["memberof_group"] == ["ipausers"]
    assert "krbextradata" not in shown
    assert svc.user_mod("svc", o_title="Robot")["result"]["title"] == ["Robot"]
    with pytest.raises(ipa_errors.Denied) as error:
        svc.user_mod("svc", o_mail=["svc@elsewhere.test"])
    assert "'write' privilege to the 'mail' attribute" in insufficient(error)
    with pytest.raises(ipa_errors.Denied):
        svc.user_mod("svc", o_ipauserauthtype=["otp"])


def test_user_manages_their_own_tokens(admin, person) -> None:
    """From source: a user may add self-managed tokens, and read, change and delete them."""
    pat = person("pat")
    first = pat.otptoken_add(o_description="phone")["result"]
    second = pat.otptoken_add(o_description="laptop")["result"]
    assert first["managedby_user"] == ["pat"]
    assert "ipatokenotpkey" not in first
    found = pat.otptoken_find(o_ipatokenowner="pat")
    assert found["count"] == 2
    assert "ipatokenotpkey" not in found["result"][0]
    token_id = first["ipatokenuniqueid"][0]
    assert pat.otptoken_mod(token_id, o_description="old phone")["result"]["description"] == [
        "old phone"
    ]
    pat.otptoken_del(token_id)
    # The last one only if pat could log in without it (ipa_otp_lasttoken.c:139-181).
    admin.user_mod("pat", o_ipauserauthtype=["otp"])
    with pytest.raises(ipa_errors.FreeIPAError, match="Can't delete last active token"):
        pat.otptoken_del(second["ipatokenuniqueid"][0])
    # A token someone else manages is only readable by its owner.
    managed = admin.otptoken_add(o_ipatokenowner="pat", o_description="issued")["result"]
    with pytest.raises(ipa_errors.Denied):
        pat.otptoken_mod(managed["ipatokenuniqueid"][0], o_description="mine now")


def test_otptoken_is_not_a_permission_type(admin) -> None:
    """From source: otptoken has no permission_filter_objectclasses (permission.py:146-153)."""
    with pytest.raises(ipa_errors.ValidationError) as error:
        admin.permission_add("OTP", o_ipapermright=["read"], o_type="otptoken")
    assert str(error.value) == "invalid 'type': \"otptoken\" is not a valid permission type"


def test_pbac_commands_answer_with_freeipa_shapes(admin, endpoints) -> None:
    """From source: results as in ipatests test_permission/privilege/role_plugin.py."""
    base = endpoints["LDAP_BASE_DN"]
    permission_dn = f"cn=testperm,cn=permissions,cn=pbac,{base}"
    # python-freeipa sends all=True unless told; ipatests compare without it.
    added = admin.permission_add(
        "testperm", o_type="user", o_ipapermright=["write"], o_attrs=["sn"], o_all=False
    )
    assert added == {
        "result": {
            "dn": permission_dn,
            "cn": ["testperm"],
            "objectclass": ["top", "groupofnames", "ipapermission", "ipapermissionv2"],
            "type": ["user"],
            "ipapermright": ["write"],
            "attrs": ["sn"],
            "ipapermbindruletype": ["permission"],
            "ipapermissiontype": ["SYSTEM", "V2"],
            "ipapermlocation": [f"cn=users,cn=accounts,{base}"],
        },
        "value": "testperm",
        "summary": 'Added permission "testperm"',
    }
    with pytest.raises(ipa_errors.DuplicateEntry):
        admin.permission_add("testperm", o_type="user", o_ipapermright=["write"], o_attrs=["sn"])
    privilege = admin.privilege_add("testpriv", o_description="privilege desc")
    assert privilege["result"]["objectclass"] == ["nestedgroup", "groupofnames", "top"]
    linked = admin.privilege_add_permission("testpriv", o_permission=["testperm", "nothing"])
    assert linked["completed"] == 1
    assert linked["failed"] == {"member": {"permission": [["nothing", "permission not found"]]}}
    assert linked["result"]["memberof_permission"] == ["testperm"]
    admin.role_add("testrole", o_description="role desc")
    admin.role_add_privilege("testrole", o_privilege=["testpriv"])
    shown = admin.permission_show("testperm", o_all=False)["result"]
    assert shown["member_privilege"] == ["testpriv"]
    assert shown["memberindirect_role"] == ["testrole"]
    assert "ipapermtargetfilter" not in shown
    assert admin.permission_show("testperm")["result"]["ipapermtargetfilter"] == [
        "(objectclass=posixaccount)"
    ]
    raw = admin.permission_show("testperm", o_raw=True)["result"]
    assert raw["aci"] == [
        '(targetattr = "sn")(targetfilter = "(objectclass=posixaccount)")'
        '(version 3.0;acl "permission:testperm";allow (write) '
        f'groupdn = "ldap:///{permission_dn}";)'
    ]
    assert raw["member"] == [f"cn=testpriv,cn=privileges,cn=pbac,{base}"]
    assert raw["ipapermincludedattr"] == ["sn"]
    assert admin.role_show("testrole", o_all=False)["result"] == {
        "dn": f"cn=testrole,cn=roles,cn=accounts,{base}",
        "cn": ["testrole"],
        "description": ["role desc"],
        "memberof_privilege": ["testpriv"],
    }
    found = admin.permission_find(o_type="user", o_ipapermright="write", o_attrs="sn")
    assert [p["cn"] for p in found["result"]] == [["System: Modify Users"], ["testperm"]]
    with pytest.raises(ipa_errors.Denied, match="cannot delete managed permissions"):
        admin.permission_del("System: Modify Users")
    assert admin.permission_del("testperm")["summary"] == 'Deleted permission "testperm"'


def test_default_roles_hold_default_privileges_and_permissions(admin) -> None:
    """From source: 45-roles.update and the plugins' default_privileges, as installed."""
    role = admin.role_show("User Administrator")["result"]
    # install/updates/73-subid.update:40-46 puts this role in Subordinate ID Administrators too.
    expected = sorted([*DEFAULT_PRIVILEGES, "Subordinate ID Administrators"])
    assert role["memberof_privilege"] == expected
    helpdesk = admin.role_show("helpdesk")["result"]
    assert helpdesk["memberof_privilege"] == [
        "Modify Group membership",
        "Modify Users and Reset passwords",
    ]
    stage = admin.privilege_show("Stage User Administrators")["result"]
    assert {"System: Preserve User", "System: Undelete User"} <= set(stage["memberof_permission"])
    add_users = admin.permission_show("System: Add Users")["result"]
    assert add_users["member_privilege"] == ["User Administrators"]
    assert add_users["memberindirect_role"] == ["User Administrator"]


def test_role_with_default_privileges_and_an_otp_permission_allows_the_lifecycle(
    admin, person, endpoints
) -> None:
    """From source: role -> privileges -> permissions grant exactly these writes."""
    person("pat")
    admin.group_add("crew", o_description="Crew")
    svc = person("svc")
    otp_permission(admin, endpoints)
    admin.privilege_add("OTP token administrators", o_description="Everybody's tokens")
    admin.privilege_add_permission("OTP token administrators", o_permission=["Manage OTP tokens"])
    give_role(admin, "svc", [*DEFAULT_PRIVILEGES, "OTP token administrators"])

    added = svc.user_add(
        "kim",
        o_givenname="Kim",
        o_sn="Moss",
        o_cn="Kim Moss",
        o_userpassword=PASSWORD,
        o_ipauserauthtype=["otp"],
    )["result"]
    assert added["memberof_group"] == ["ipausers"]
    assert "mepmanagedentry" not in added
    assert svc.user_mod("kim", o_userpassword=NEW_PASSWORD)["value"] == "kim"
    svc.user_disable("kim")
    svc.user_enable("kim")
    assert svc.group_add_member("crew", o_user=["kim"])["completed"] == 1
    assert svc.group_add_member_manager("crew", o_user=["pat"])["completed"] == 1
    assert svc.group_remove_member("crew", o_user=["kim"])["completed"] == 1
    assert svc.group_add("team", o_description="Team")["value"] == "team"

    token = svc.otptoken_add(o_type="totp", o_ipatokenowner="kim", o_description="kim's")
    assert token["result"]["uri"].startswith("otpauth://totp/kim@EXAMPLE.TEST:")
    assert svc.otptoken_find(o_ipatokenowner="kim")["count"] == 1

    assert svc.user_del("kim", o_preserve=True)["summary"] == 'Preserved user "kim"'
    # Owned but managed by nobody: orphaned, as the caller, rather than deleted.
    token_id = token["result"]["ipatokenuniqueid"][0]
    assert "ipatokenowner" not in svc.otptoken_show(token_id)["result"]
    with pytest.raises(ipa_errors.NotFound, match="kim: user not found"):
        svc.otptoken_find(o_ipatokenowner="kim")
    assert svc.user_show("kim")["result"]["preserved"] is True
    assert svc.user_undel("kim")["summary"] == 'Undeleted user account "kim"'
    assert svc.user_del("kim")["summary"] == 'Deleted user "kim"'

    svc.stageuser_add("lee", o_givenname="Lee", o_sn="Ray", o_cn="Lee Ray")
    assert svc.stageuser_find()["count"] == 1
    assert svc.stageuser_activate("lee")["summary"] == "Stage user lee activated"
    # Members of admins stay out of reach (the permissions' targetfilter).
    with pytest.raises(ipa_errors.Denied):
        svc.user_mod("admin", o_title="Boss")


def test_default_privileges_do_not_cover_the_authentication_type(admin, person) -> None:
    """From source: no default permission writes ipaUserAuthType; a custom one must."""
    person("pat")
    svc = person("svc")
    give_role(admin, "svc", DEFAULT_PRIVILEGES)
    with pytest.raises(ipa_errors.Denied) as error:
        svc.user_mod("pat", o_ipauserauthtype=["otp"])
    assert "'write' privilege to the 'ipaUserAuthType' attribute" in insufficient(error)
    admin.permission_add(
        "Manage user authentication types",
        o_type="user",
        o_ipapermright=["write"],
        o_attrs=["ipauserauthtype", "objectclass"],
    )
    admin.privilege_add_permission(
        "User Administrators", o_permission=["Manage user authentication types"]
    )
    assert svc.user_mod("pat", o_ipauserauthtype=["otp"])["result"]["ipauserauthtype"] == ["otp"]


def test_stage_user_provisioning_alone_adds_but_cannot_read_back(admin, person) -> None:
    """From source: LDAPCreate reads the new entry as the caller; unreadable is NotFound."""
    svc = person("svc")
    give_role(admin, "svc", ["Stage User Provisioning"])
    with pytest.raises(ipa_errors.NotFound, match="lee: stage user not found"):
        svc.stageuser_add("lee", o_givenname="Lee", o_sn="Ray", o_cn="Lee Ray")
    assert admin.stageuser_show("lee")["result"]["uid"] == ["lee"]


def test_undelete_without_user_administrators_moves_the_user_then_fails(admin, person) -> None:
    """From source: user_undel moves the entry, then adds it to ipausers as the caller."""
    person("pat")
    admin.user_del("pat", o_preserve=True)
    svc = person("svc")
    give_role(admin, "svc", ["Stage User Administrators"])
    with pytest.raises(ipa_errors.Denied) as error:
        svc.user_undel("pat")
    assert "'write' privilege to the 'member' attribute of entry 'cn=ipausers," in insufficient(
        error
    )
    restored = admin.user_show("pat")["result"]
    assert restored["preserved"] is False
    assert "memberof_group" not in restored


def _leavers_role(admin, endpoints, readable: list[str]) -> None:
    """A role that may preserve users and read `readable` of preserved ones."""
    base = endpoints["LDAP_BASE_DN"]
    admin.permission_add(
        "Read preserved passwords",
        o_ipapermright=["read", "search", "compare"],
        o_ipapermlocation=f"cn=deleted users,cn=accounts,cn=provisioning,{base}",
        o_attrs=readable,
    )
    admin.privilege_add("Preserving")
    admin.privilege_add_permission(
        "Preserving",
        o_permission=[
            "System: Preserve User",
            "System: Modify User RDN",
            "System: Modify Preserved Users",
            "Read preserved passwords",
        ],
    )
    admin.role_add("Leavers")
    admin.role_add_privilege("Leavers", o_privilege=["Preserving"])
    admin.role_add_member("Leavers", o_user=["svc"])


def test_preserving_clears_only_the_credentials_the_caller_can_read(
    admin, person, endpoints
) -> None:
    """From source: user_del --preserve reads krbPrincipalKey, krbLastPwdChange,
    krbPasswordExpiration and userPassword back as the caller and clears what it got
    (user.py:777-790)."""
    person("pat")
    svc = person("svc")
    _leavers_role(admin, endpoints, ["objectclass", "userpassword"])
    assert svc.user_del("pat", o_preserve=True)["summary"] == 'Preserved user "pat"'
    kept = stored(endpoints, "uid=pat,cn=deleted users,cn=accounts,cn=provisioning")
    assert "userPassword" not in kept
    assert "krbLastPwdChange" in kept
    assert "krbPasswordExpiration" in kept

    person("kim")
    admin.user_del("kim", o_preserve=True)
    kept = stored(endpoints, "uid=kim,cn=deleted users,cn=accounts,cn=provisioning")
    for name in ("userPassword", "krbLastPwdChange", "krbPasswordExpiration"):
        assert name not in kept


def test_preserving_without_search_on_objectclass_moves_then_finds_nothing(
    admin, person, endpoints
) -> None:
    """From source: the read-back is a search of (objectClass=*) as the caller
    (user.py:780-781, ldap2 get_entry); 389-ds returns no entry to a caller without the
    search right on objectClass, so FreeIPA answers NotFound after the move, clearing nothing."""
    person("pat")
    svc = person("svc")
    _leavers_role(admin, endpoints, ["userpassword"])
    with pytest.raises(ipa_errors.NotFound) as error:
        svc.user_del("pat", o_preserve=True)
    assert str(error.value) == "pat: user not found"
    kept = stored(endpoints, "uid=pat,cn=deleted users,cn=accounts,cn=provisioning")
    assert "userPassword" in kept


def stored(endpoints: dict[str, str], rdns: str) -> dict[str, list[bytes]]:
    """The entry's attributes as the directory holds them."""
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    [(_, attrs)] = connection.search_s(f"{rdns},{endpoints['LDAP_BASE_DN']}", ldap.SCOPE_BASE)
    connection.unbind_s()
    return attrs


def test_only_the_deleting_accounts_own_tokens_count_for_the_last_token_rule(admin, person) -> None:
    """From source: ipa_otp_lasttoken.c:139-181 is_allowed looks at the tokens of the bound
    account, and lets it go on when its authentication types include a password."""
    pat = person("pat")
    own = pat.otptoken_add(o_description="phone")["result"]["ipatokenuniqueid"][0]
    pat.otptoken_del(own)  # no authentication types: a password alone still logs pat in

    admin.user_mod("pat", o_ipauserauthtype=["otp"])
    last = pat.otptoken_add(o_description="phone")["result"]["ipatokenuniqueid"][0]
    with pytest.raises(ipa_errors.FreeIPAError, match="Can't disable last active token"):
        pat.otptoken_mod(last, o_ipatokendisabled=True)
    admin.user_mod("pat", o_ipauserauthtype=["otp", "password"])
    assert pat.otptoken_mod(last, o_ipatokendisabled=True)["result"]["ipatokendisabled"] == [True]
    pat.otptoken_mod(last, o_ipatokendisabled=False)
    admin.user_mod("pat", o_ipauserauthtype=["otp"])
    # An admin deleting pat's last token is not refused: the admin's own tokens count.
    admin.otptoken_del(last)
    assert admin.otptoken_find(o_ipatokenowner="pat")["count"] == 0
