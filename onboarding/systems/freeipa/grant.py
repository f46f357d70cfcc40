"""What AccessAdmin's FreeIPA service account needs, and giving it exactly that.

One role holding one privilege: FreeIPA's own managed permissions for the user, group and
preserved-user operations the plans make, plus AccessAdmin's permissions for what FreeIPA grants
no privilege: other users' OTP tokens (default-aci.ldif lets only a token's owner and managers
touch it) and `ipauserauthtype` ("System: Modify Users" leaves it out, user.py:361-385). Each
permission names the call that needs it; the source lines are FreeIPA's (ipaserver/plugins/).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLE = "AccessAdmin service"
PRIVILEGE = "AccessAdmin lifecycle"

# FreeIPA's managed permissions the plans need, and why.
BUILT_IN_PERMISSIONS = {
    "System: Read UPG Definition": (
        "user_add, which reads it as the caller first (user.py:262-271, 556; ldap2.py:252-284)"
    ),
    "System: Add Users": "user_add (user.py:272-278)",
    "System: Change User password": "a temporary password on reinstatement (user.py:291-311)",
    "System: Modify Users": "names and e-mail (user.py:361-385)",
    "System: Unlock User": "user_disable, user_enable: nsaccountlock (user.py:397-410)",
    "System: Remove Users": "user_del when an onboarding is rolled back (user.py:386-396)",
    "System: Preserve User": "user_del --preserve on offboarding (stageuser.py:260-268)",
    "System: Modify User RDN": "user_del --preserve, user_undel rewrite uid (stageuser.py:246-254)",
    "System: Undelete User": "user_undel on reinstatement (stageuser.py:271-279)",
    "System: Read Preserved Users": "user_show of an offboarded person (stageuser.py)",
    "System: Modify Preserved Users": "user_del --preserve clears credentials (user.py:777-790)",
    "System: Add Groups": "a team's groups (group.py managed_permissions)",
    # Also lets user_add and user_undel add to ipausers (its filter takes every ipausergroup
    # but admins, group.py:261-275), so "System: Add User to default group" is not needed.
    "System: Modify Group Membership": "team membership; ipausers on user_add, user_undel",
    "System: Modify Groups": "team leads: membermanager (group.py managed_permissions)",
    "System: Read Roles": "preflight reads its own role (role.py:100-109)",
    "System: Read Privileges": "preflight reads which permissions it holds (privilege.py:155-164)",
}  # fmt: skip

# With ipaUserDefaultSubordinateId on, user_add runs subid_generate as the caller (user.py:717-729),
# an add only "Subordinate ID Administrators" may make (install/updates/73-subid.update:68), and
# user_del removes or hands over the person's subordinate ids (user.py:845-851; subid.py:109-129).
SUBID_PRIVILEGES = ("Subordinate ID Administrators",)
SUBID_PERMISSIONS = ("System: Manage Subordinate Ids", "System: Remove Subordinate Ids")

_TOKEN_ATTRIBUTES = [
    "objectclass", "description", "managedby", "ipatokenuniqueid", "ipatokendisabled",
    "ipatokennotbefore", "ipatokennotafter", "ipatokenvendor", "ipatokenmodel",
    "ipatokenserial", "ipatokenowner",
]  # fmt: skip


@dataclass(frozen=True)
class Permission:
    name: str
    why: str
    rights: tuple[str, ...]
    options: dict = field(default_factory=dict)
    # Under which container of the directory it applies (`cn=otp`), the suffix added at grant.
    location: str = ""

    def add_options(self, base_dn: str) -> dict:
        located = {"ipapermlocation": f"{self.location},{base_dn}"} if self.location else {}
        return {"ipapermright": list(self.rights), **self.options, **located}


# AccessAdmin's own permissions. Their names may not hold a colon (permission.py
# _disallow_colon keeps that for FreeIPA's managed ones). OTP tokens have no permission type
# (permission.py validate_type: otptoken has no permission_filter_objectclasses), so they are
# scoped by location and filter, as an admin would with `ipa permission-add --subtree`.
_TOKENS = {"extratargetfilter": ["(objectclass=ipatoken)"]}
CUSTOM_PERMISSIONS = (
    Permission(
        "AccessAdmin Add OTP tokens", "otptoken_add for a new person", ("add",), _TOKENS, "cn=otp"
    ),
    Permission(
        "AccessAdmin Read OTP tokens",
        "otptoken_find sees another person's tokens (otherwise silently none)",
        ("read", "search", "compare"),
        {**_TOKENS, "attrs": _TOKEN_ATTRIBUTES},
        "cn=otp",
    ),
    Permission(
        "AccessAdmin Remove OTP tokens",
        "otptoken_del on offboarding",
        ("delete",),
        _TOKENS,
        "cn=otp",
    ),
    Permission(
        "AccessAdmin Manage OTP token owners",
        "otptoken_add_managedby, so a person manages their own token; user_del orphans "
        "the tokens it deletes the user of (user.py:831-842)",
        ("write",),
        {**_TOKENS, "attrs": ["managedby", "ipatokenowner"]},
        "cn=otp",
    ),
    Permission(
        "AccessAdmin Set user authentication types",
        "ipauserauthtype=otp on reinstatement",
        ("write",),
        {"type": "user", "attrs": ["ipauserauthtype"]},
    ),
)

# Every permission the service account needs, by name, with why.
REQUIRED_PERMISSIONS = {
    **BUILT_IN_PERMISSIONS,
    **{permission.name: permission.why for permission in CUSTOM_PERMISSIONS},
}


def freeipa_grant(ipa, *, username: str) -> list[str]:
    """Give `username` exactly what AccessAdmin needs, as FreeIPA admin `ipa` (a FreeIPA client
    logged in as an admin). Safe to repeat; returns what it changed, a line each."""
    changed = []
    base_dn = ipa.base_dn()
    for permission in CUSTOM_PERMISSIONS:
        if ipa.pbac_add("permission_add", permission.name, **permission.add_options(base_dn)):
            changed.append(f"created permission {permission.name!r}")
    if ipa.pbac_add("privilege_add", PRIVILEGE, description="What AccessAdmin needs"):
        changed.append(f"created privilege {PRIVILEGE!r}")
    added = ipa.pbac_members(
        "privilege_add_permission", PRIVILEGE, permission=list(REQUIRED_PERMISSIONS)
    )
    changed += [f"added permission {name!r} to privilege {PRIVILEGE!r}" for name in added]
    if ipa.pbac_add("role_add", ROLE, description="AccessAdmin's service account"):
        changed.append(f"created role {ROLE!r}")
    added = ipa.pbac_members("role_add_privilege", ROLE, privilege=[PRIVILEGE])
    changed += [f"added privilege {name!r} to role {ROLE!r}" for name in added]
    added = ipa.pbac_members("role_add_member", ROLE, user=[username])
    changed += [f"added user {name!r} to role {ROLE!r}" for name in added]
    return changed


def pass_sync_instructions(*, username: str, user_base_dn: str) -> list[str]:
    """What makes `username` a password-sync manager. FreeIPA has no API command for it: the
    list is passSyncManagersDNs on the ipa-pwd-extop plugin's entry in cn=config, which only
    Directory Manager and holders of "Modify PassSync Managers Configuration"
    (install/updates/40-delegation.update:245-254) may write."""
    dn = f"uid={username},{user_base_dn}"
    return [
        f"A password {dn} sets is then stored NOT expired (it lasts the policy's max life) and",
        "FreeIPA skips its password policy for it (ipa-pwd-extop: ipa_pwd_extop.c:583-618,",
        "common.c:645-660). AccessAdmin then applies the policy itself (length, character",
        "classes; not the history, and it refuses policies with libpwquality rules), and uses",
        "this only to finish an enrolment that a grace limit of 0 stops. It also lets this",
        "account set any password it may write without the user changing it: keep it opt-in.",
        "",
        "On a FreeIPA server, as Directory Manager:",
        "  ldapmodify -x -D 'cn=Directory Manager' -W -H ldapi://%2Frun%2Fslapd-REALM.socket <<EOF",
        "  dn: cn=ipa_pwd_extop,cn=plugins,cn=config",
        "  changetype: modify",
        "  add: passSyncManagersDNs",
        f"  passSyncManagersDNs: {dn}",
        "  EOF",
        "The plugin reads the list at each password operation (common.c:227-228, 583), so no",
        "restart is needed. Set FREEIPA_PASS_SYNC=true for AccessAdmin, and let LDAP_BIND_DN",
        "read the list (permission 'Read PassSync Managers Configuration') so that",
        "`manage.py preflight` can say whether it took effect.",
    ]
