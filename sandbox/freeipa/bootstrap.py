"""First-start content of the directory: FreeIPA's containers, admin, default groups, ID range."""

from __future__ import annotations

import random

import ldap

from . import passwords
from .acis import acis_sync
from .encoding import to_generalized, utcnow
from .pbac import (
    DEFAULT_PRIVILEGES,
    DEFAULT_ROLES,
    MANAGED_PERMISSIONS,
    PRIVILEGE_CLASSES,
    ROLE_CLASSES,
    managed_entry,
)
from .store import ID_RANGE_SIZE
from .tree import (
    ACTIVE,
    ADMINS,
    DEFAULT_GROUP,
    PRESERVED,
    STAGED,
    SUBID_RANGES,
    Tree,
    unique_id,
)

CONTAINERS = (
    "cn=accounts",
    "cn=users,cn=accounts",
    "cn=groups,cn=accounts",
    "cn=roles,cn=accounts",
    "cn=subids,cn=accounts",
    "cn=provisioning",
    "cn=accounts,cn=provisioning",
    "cn=staged users,cn=accounts,cn=provisioning",
    "cn=deleted users,cn=accounts,cn=provisioning",
    "cn=otp",
    "cn=etc",
    "cn=ranges,cn=etc",
    "cn=Managed Entries,cn=etc",
    "cn=Definitions,cn=Managed Entries,cn=etc",
    "cn=pbac",
    "cn=privileges,cn=pbac",
    "cn=permissions,cn=pbac",
    "cn=kerberos",
)
# install/share/user_private_groups.ldif:14-21; "(objectclass=disable)" in it turns UPG off.
UPG_ORIGIN_FILTER = "(&(objectclass=posixAccount)(!(description=__no_upg__)))"
# Directory Manager-set passwords never expire in FreeIPA; the admin's lasts as long as the sandbox.
ADMIN_PASSWORD_LIFETIME = "20991231235959Z"


def ensure(
    tree: Tree, admin_password: str, grace_limit: int = passwords.DEFAULT_GRACE_LIMIT
) -> None:
    """Create whatever is missing; running it again changes nothing.

    The global policy's grace limit is set to grace_limit at every start (the stand-in's
    config.json `password_grace_limit`), and 389-ds made to enforce it.
    """
    directory = tree.directory
    for rdn in (*CONTAINERS, f"cn={tree.realm},cn=kerberos"):
        _add_missing(
            tree,
            f"{rdn},{tree.base}",
            {"objectClass": ["top", "nsContainer"], "cn": [rdn.split(",")[0][3:]]},
        )
    if directory.get(tree.subid_range_dn) is None:
        directory.add(
            tree.subid_range_dn,
            {
                "objectClass": ["top", "ipaIDRange"],
                "cn": [f"{tree.realm}_subid_range"],
                "ipaBaseID": [0],
                "ipaIDRangeSize": [SUBID_RANGES],
                "ipaNextID": [0],
            },
        )
    if directory.get(tree.range_dn) is None:
        base = random.randint(1, 10_000) * ID_RANGE_SIZE  # noqa: S311 - FreeIPA picks it the same way
        directory.add(
            tree.range_dn,
            {
                "objectClass": ["top", "ipaIDRange"],
                "cn": [f"{tree.realm}_id_range"],
                "ipaBaseID": [base],
                "ipaIDRangeSize": [ID_RANGE_SIZE],
                "ipaNextID": [base],
            },
        )
    _add_missing(
        tree,
        tree.global_policy_dn,
        {
            "objectClass": ["top", "nsContainer", "krbPwdPolicy", "ipaPwdPolicy"],
            "cn": ["global_policy"],
            "krbMaxPwdLife": [7_776_000],
            "krbMinPwdLife": [3_600],
            "krbPwdHistoryLength": [0],
            "krbPwdMinDiffChars": [0],
            "krbPwdMinLength": [8],
            "krbPwdMaxFailure": [6],
            "krbPwdFailureCountInterval": [60],
            "krbPwdLockoutDuration": [600],
            "passwordGraceLimit": [grace_limit],
        },
    )
    passwords.mirror_missing_expiries(tree)
    passwords.set_grace_limit(tree, grace_limit)
    if directory.get(passwords.PASS_SYNC_CONFIG_DN) is None:
        passwords.pass_sync_managers_set(tree, [])
    _add_missing(
        tree,
        tree.upg_definition_dn,
        {
            "objectClass": ["top", "extensibleObject"],
            "cn": ["UPG Definition"],
            "originScope": [tree.container(ACTIVE)],
            "originFilter": [UPG_ORIGIN_FILTER],
            "managedBase": [tree.container("groups")],
            "managedTemplate": [
                f"cn=UPG Template,cn=Templates,cn=Managed Entries,cn=etc,{tree.base}"
            ],
        },
    )
    # install/share/bootstrap-template.ldif: the global configuration (only what is used here).
    _add_missing(
        tree,
        tree.config_dn,
        {
            "objectClass": ["top", "nsContainer", "ipaGuiConfig"],
            "cn": ["ipaConfig"],
            "ipaMaxUsernameLength": [32],
            "ipaDefaultPrimaryGroup": [DEFAULT_GROUP],
        },
    )
    _ensure_pbac(tree)
    _add_missing(
        tree,
        tree.group_dn(DEFAULT_GROUP),
        {
            "objectClass": ["top", "groupofnames", "nestedgroup", "ipausergroup", "ipaobject"],
            "cn": [DEFAULT_GROUP],
            "description": ["Default group for all users"],
            "ipaUniqueID": [unique_id()],
        },
    )
    if tree.group(ADMINS) is None:
        gid = tree.new_id()
        directory.add(
            tree.group_dn(ADMINS),
            {
                "objectClass": [
                    "top",
                    "groupofnames",
                    "posixgroup",
                    "ipausergroup",
                    "ipaobject",
                    "nestedgroup",
                    "ipantgroupattrs",
                ],
                "cn": [ADMINS],
                "description": ["Account administrators group"],
                "gidNumber": [gid],
                "ipaUniqueID": [unique_id()],
                "ipaNTSecurityIdentifier": [tree.sid(gid)],
            },
        )
    _ensure_admin(tree, admin_password)


def _add_missing(tree: Tree, dn: str, attrs: dict) -> None:
    if tree.directory.get(dn) is None:
        tree.directory.add(dn, attrs)


def _ensure_pbac(tree: Tree) -> None:
    """FreeIPA's default roles, privileges and managed permissions, linked as at install.

    Memberships are set when an entry is created, as FreeIPA's updater sets
    default_privileges only on new permissions (update_managed_permissions.py:57-59).
    """
    if "ipapermright" not in tree.directory.attribute_names():
        raise RuntimeError(
            "the directory runs without the permission schema of sandbox/freeipa/schema: "
            "stop the stack (python -m sandbox down) and start it again to load it"
        )
    for name, description in DEFAULT_ROLES.items():
        _add_missing(tree, tree.role_dn(name), _role_attrs(name, description))
    for name, (description, roles) in DEFAULT_PRIVILEGES.items():
        dn = tree.privilege_dn(name)
        entry = tree.directory.get(dn)
        if entry is None:
            tree.directory.add(dn, _privilege_attrs(tree, name, description, roles))
        elif not entry.get("description"):
            tree.directory.replace(dn, {"description": [description]})
    for permission in MANAGED_PERMISSIONS:
        _add_missing(
            tree,
            tree.permission_dn(permission.name),
            managed_entry(permission, tree.base, tree.privilege_dn),
        )
    acis_sync(tree)


def _role_attrs(name: str, description: str) -> dict[str, list]:
    return {"objectClass": ROLE_CLASSES, "cn": [name], "description": [description]}


def _privilege_attrs(
    tree: Tree, name: str, description: str, roles: tuple[str, ...]
) -> dict[str, list]:
    return {
        "objectClass": PRIVILEGE_CLASSES,
        "cn": [name],
        "description": [description],
        "member": [tree.role_dn(role) for role in roles],
    }


def _reset_pbac(tree: Tree) -> None:
    """Default roles, privileges and permissions only, with their default members."""
    directory = tree.directory
    wanted: dict[str, dict[str, list]] = {}
    for name, description in DEFAULT_ROLES.items():
        wanted[tree.role_dn(name).lower()] = _role_attrs(name, description)
    for name, (description, roles) in DEFAULT_PRIVILEGES.items():
        attrs = _privilege_attrs(tree, name, description, roles)
        wanted[tree.privilege_dn(name).lower()] = attrs
    for permission in MANAGED_PERMISSIONS:
        attrs = managed_entry(permission, tree.base, tree.privilege_dn)
        wanted[tree.permission_dn(permission.name).lower()] = attrs
    for container in ("roles", "privileges", "permissions"):
        for entry in directory.search(tree.container(container)):
            attrs = wanted.get(entry.dn.lower())
            if attrs is None:
                directory.delete(entry.dn)
                continue
            changes = {}
            for name in ("member", "description"):
                values = attrs.get(name, [])
                if {v.lower() for v in values} != {v.lower() for v in entry.get(name)}:
                    changes[name] = values or None
            if changes:
                directory.replace(entry.dn, changes)
    _ensure_pbac(tree)


def _ensure_admin(tree: Tree, password: str) -> None:
    directory = tree.directory
    dn = tree.user_dn("admin")
    admins_gid = tree.group(ADMINS).first("gidnumber")
    if directory.get(dn) is None:
        number = int(admins_gid)
        directory.add(
            dn,
            {
                "objectClass": [
                    "top",
                    "person",
                    "posixaccount",
                    "krbprincipalaux",
                    "krbticketpolicyaux",
                    "inetuser",
                    "ipaobject",
                    "ipasshuser",
                    "ipaSshGroupOfPubKeys",
                    "ipantuserattrs",
                ],
                "uid": ["admin"],
                "cn": ["Administrator"],
                "sn": ["Administrator"],
                "gecos": ["Administrator"],
                "uidNumber": [number],
                "gidNumber": [admins_gid],
                "homeDirectory": ["/home/admin"],
                "loginShell": ["/bin/bash"],
                "krbPrincipalName": [tree.principal("admin")],
                "krbCanonicalName": [tree.principal("admin")],
                "ipaUniqueID": [unique_id()],
                "ipaNTSecurityIdentifier": [tree.sid(number)],
            },
        )
    passwords.write_password(
        tree,
        dn,
        {
            "userPassword": [password],
            "krbLastPwdChange": [to_generalized(utcnow())],
            "krbPasswordExpiration": [ADMIN_PASSWORD_LIFETIME],
            "nsAccountLock": ["FALSE"],
        },
        ADMIN_PASSWORD_LIFETIME,
    )
    for group in (ADMINS, DEFAULT_GROUP):
        if not tree.is_member(dn, group):
            directory.modify(tree.group_dn(group), [(ldap.MOD_ADD, "member", [dn])])


def global_auth_types_set(tree: Tree, types: list[str]) -> None:
    """The global ipaUserAuthType (`ipa config-mod --user-auth-type`); reset removes it."""
    config = tree.directory.get(tree.config_dn)
    assert config is not None
    if not config.has_class("ipaUserAuthTypeClass"):
        tree.directory.modify(
            tree.config_dn, [(ldap.MOD_ADD, "objectClass", ["ipaUserAuthTypeClass"])]
        )
    tree.directory.replace(tree.config_dn, {"ipaUserAuthType": types})


def reset(tree: Tree, grace_limit: int = passwords.DEFAULT_GRACE_LIMIT) -> None:
    """Remove every user, group, token, role, privilege, permission and policy added since.

    The global policy gets its defaults back, with grace_limit as its grace limit.
    """
    directory = tree.directory
    for kind in (STAGED, PRESERVED):
        for entry in directory.search(tree.container(kind)):
            directory.delete(entry.dn)
    for entry in directory.search(tree.container(ACTIVE)):
        if entry.first("uid") != "admin":
            directory.delete(entry.dn)
    for entry in directory.search(tree.container("otp")):
        directory.delete(entry.dn)
    for entry in directory.search(tree.container("subids")):
        directory.delete(entry.dn)
    for entry in directory.search(tree.container("kerberos")):
        if entry.dn.lower() != tree.global_policy_dn.lower() and entry.has_class("krbPwdPolicy"):
            directory.delete(entry.dn)
    for entry in directory.search(tree.container("groups")):
        if entry.first("cn") not in (ADMINS, DEFAULT_GROUP):
            directory.delete(entry.dn)
    admin_dn = tree.user_dn("admin")
    for group in (ADMINS, DEFAULT_GROUP):
        directory.replace(tree.group_dn(group), {"member": [admin_dn], "memberManager": None})
    _reset_pbac(tree)
    directory.replace(tree.upg_definition_dn, {"originFilter": [UPG_ORIGIN_FILTER]})
    config = directory.get(tree.config_dn)
    for name in ("ipaUserDefaultSubordinateId", "ipaUserAuthType"):
        if config is not None and config.get(name):
            directory.replace(tree.config_dn, {name: None})
    directory.replace(
        tree.global_policy_dn,
        {"krbMinPwdLife": [3_600], "krbPwdMinLength": [8], "krbMaxPwdLife": [7_776_000]},
    )
    passwords.pass_sync_managers_set(tree, [])
    passwords.set_grace_limit(tree, grace_limit)
