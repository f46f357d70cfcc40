"""permission_*, privilege_* and role_*: FreeIPA's permission-based access control (PBAC).

A permission is an ACI with a name (ipaserver/plugins/permission.py), a privilege groups
permissions (privilege.py), a role gives privileges to users and groups (role.py). Membership
runs permission -> privilege -> role -> user: each is a groupofnames whose `member` holds the
next one, and 389-ds follows that chain when it evaluates a permission's ACI (its groupdn
bind rule reaches nested members).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import ldap

from .. import errors
from ..acis import directory_aci, effective_attrs, make_aci
from ..pbac import (
    NOT_PERMISSION_TYPES,
    PERMISSION_CLASSES,
    PERMISSION_TYPES,
    PRIVILEGE_CLASSES,
    ROLE_CLASSES,
)
from ..store import Entry, pending
from ..tree import ACTIVE, Tree
from ..views import may_read
from . import Call, command
from .users import _listed, find_result

RIGHTS = ("read", "search", "compare", "write", "add", "delete", "all")
BIND_TYPES = ("permission", "all", "anonymous", "self")
# permission.py:156-165 (_disallow_colon, applied by permission_add).
PERMISSION_NAME = re.compile(r"^[-_ a-zA-Z0-9.]+$")
ROLE_MEMBER_KINDS = ("user", "group", "host", "hostgroup", "service", "idoverrideuser")
# permission.py:187-192
PERMISSION_DEFAULTS = frozenset(
    {
        "cn",
        "ipapermissiontype",
        "objectclass",
        "ipapermdefaultattr",
        "ipapermincludedattr",
        "ipapermexcludedattr",
        "ipapermbindruletype",
        "ipapermlocation",
        "ipapermright",
        "ipapermtargetfilter",
        "ipapermtarget",
    }
)
# permission.py:112-116: old names a client with the permissions2 capability may not use.
RENAMED_OPTIONS = {
    "permissions": "ipapermright",
    "filter": "extratargetfilter",
    "subtree": "ipapermlocation",
}
PERMISSION_OPTIONS = (
    *RENAMED_OPTIONS,
    "ipapermright",
    "attrs",
    "ipapermbindruletype",
    "ipapermlocation",
    "extratargetfilter",
    "ipapermtargetfilter",
    "ipapermtarget",
    "ipapermtargetto",
    "ipapermtargetfrom",
    "memberof",
    "targetgroup",
    "type",
)


def _rdn_value(dn: str) -> str:
    return dn.split(",", 1)[0].split("=", 1)[1]


def _in(tree: Tree, dns: list[str], kind: str) -> list[str]:
    base = tree.container(kind).lower()
    return [_rdn_value(dn) for dn in dns if dn.lower().endswith("," + base)]


def _holders(tree: Tree, kind: str, dn: str) -> list[Entry]:
    """The entries of a container whose `member` holds dn."""
    return tree.groups_with("member", dn, kind)


def _check_name(value: Any, pattern: re.Pattern | None = None) -> str:
    name = str(value or "")
    if name != name.strip():
        raise errors.ValidationError(
            name="name", error="Leading and trailing spaces are not allowed"
        )
    if pattern is not None and not pattern.match(name):
        raise errors.ValidationError(
            name="name", error="May only contain letters, numbers, -, _, ., and space"
        )
    if not name:
        raise errors.RequirementError(name="name")
    return name


def _plain(entry: Entry, options: dict[str, Any], keep: frozenset[str], readable) -> dict:
    """The entry's own attributes as FreeIPA shows them (all=True: every one)."""
    shown = {}
    for name, values in entry.attrs.items():
        if name in ("member", "memberof"):
            continue
        if not options.get("all") and name not in keep:
            continue
        if may_read(readable, name):
            shown[name] = list(values)
    return shown


def _members_shown(options: dict[str, Any], find: bool) -> bool:
    return bool(options.get("all")) or not options.get("no_members", find)


# Roles ------------------------------------------------------------------------------------


def role_view(call: Call, entry: Entry, *, added: bool = False, find: bool = False) -> dict:
    tree = call.tree
    readable = call.readable(entry)
    keep = frozenset({"cn", "description", *(["objectclass"] if added else [])})
    view = _plain(entry, call.options, keep, readable)
    if _members_shown(call.options, find) and may_read(readable, "member"):
        members = entry.get("member")
        for kind, container in (("user", ACTIVE), ("group", "groups")):
            names = _in(tree, members, container)
            if names:
                view[f"member_{kind}"] = sorted(names)
    if _members_shown(call.options, find) and may_read(readable, "memberof"):
        privileges = _holders(tree, "privileges", entry.dn)
        if privileges:
            view["memberof_privilege"] = sorted(p.first("cn") for p in privileges)
    view["dn"] = entry.dn
    return view


def _role(call: Call, name: Any) -> Entry:
    """The role as the caller can see it; only RBAC Readers and admins can, by default."""
    entry = call.tree.directory.get(call.tree.role_dn(str(name or "")))
    if not call.can_read(entry):
        raise errors.not_found(str(name or ""), "role")
    assert entry is not None
    return entry


@command("role_add", ("description", "setattr", "addattr"))
def role_add(call: Call) -> dict[str, Any]:
    name = _check_name(call.arg())
    dn = call.tree.role_dn(name)
    attrs: dict[str, list] = {"objectClass": ROLE_CLASSES, "cn": [name]}
    if call.options.get("description"):
        attrs["description"] = [str(call.options["description"])]
    try:
        call.writes.add(dn, attrs)
    except ldap.ALREADY_EXISTS:
        raise errors.DuplicateEntry(f'role with name "{name}" already exists') from None
    view = role_view(call, _role(call, name), added=True)
    return {"result": view, "value": name, "summary": f'Added role "{name}"'}


@command("role_show")
def role_show(call: Call) -> dict[str, Any]:
    entry = _role(call, call.arg())
    return {"result": role_view(call, entry), "value": call.arg(), "summary": None}


@command("role_find", ("cn", "description"), find=True)
def role_find(call: Call) -> dict[str, Any]:
    entries = _found(call, "roles", ("cn", "description"))
    return find_result(call, entries, "role", "roles", lambda e: role_view(call, e, find=True))


@command("role_del", ("continue",))
def role_del(call: Call) -> dict[str, Any]:
    names = _listed(call.arg())
    for name in names:
        entry = _existing(call, call.tree.role_dn(name), name, "role")
        call.writes.delete(entry.dn)
        # Referential integrity drops it from the privileges holding it.
        for privilege in _holders(call.tree, "privileges", entry.dn):
            call.tree.directory.modify(privilege.dn, [(ldap.MOD_DELETE, "member", [entry.dn])])
    joined = ",".join(names)
    return {"result": {"failed": []}, "value": names, "summary": f'Deleted role "{joined}"'}


def _role_members(call: Call, adding: bool) -> dict[str, Any]:
    """LDAPAddMember / LDAPRemoveMember (baseldap.py:1784-1830): refusals land in `failed`."""
    tree = call.tree
    name = str(call.arg() or "")
    entry = tree.directory.get(tree.role_dn(name))
    failed: dict[str, list] = {kind: [] for kind in ROLE_MEMBER_KINDS}
    completed = 0
    op = ldap.MOD_ADD if adding else ldap.MOD_DELETE
    for kind in ROLE_MEMBER_KINDS:
        for value in _listed(call.options.get(kind)):
            dn = tree.user_dn(value.lower()) if kind == "user" else tree.group_dn(value.lower())
            exists = kind in ("user", "group") and tree.directory.get(dn) is not None
            if (adding and not exists) or entry is None:
                failed[kind].append([value, "no such entry"])
                continue
            reason = _member_change(call, entry.dn, op, dn)
            if reason:
                failed[kind].append([value, reason])
            else:
                completed += 1
    # The role is read back as the caller last: one it cannot see is NotFound.
    view = role_view(call, _role(call, name))
    return {"completed": completed, "failed": {"member": failed}, "result": view}


@command("role_add_member", ROLE_MEMBER_KINDS)
def role_add_member(call: Call) -> dict[str, Any]:
    return _role_members(call, True)


@command("role_remove_member", ROLE_MEMBER_KINDS)
def role_remove_member(call: Call) -> dict[str, Any]:
    return _role_members(call, False)


def _reverse_members(
    call: Call, adding: bool, holder: Entry, kind: str
) -> tuple[int, list[list[str]]]:
    """LDAPAddReverseMember (baseldap.py:2242-2327): `holder` goes into each named entry.

    Each named entry's own add-member command runs as the caller; its refusal, or NotFound
    when the caller cannot read that entry afterwards, becomes the `failed` message.
    """
    tree = call.tree
    completed, failed = 0, []
    label = kind[:-1]
    for value in _listed(call.options.get(label)):
        dn = f"cn={value},{tree.container(kind)}"
        entry = tree.directory.get(dn)
        if entry is None:
            failed.append([value, f"{label} not found"])
            continue
        op = ldap.MOD_ADD if adding else ldap.MOD_DELETE
        reason = _member_change(call, entry.dn, op, holder.dn)
        if reason and not call.can_read(entry):
            reason = f"{label} not found"
        if reason:
            failed.append([value, reason])
        else:
            completed += 1
    return completed, failed


def _member_change(call: Call, dn: str, op: int, member: str) -> str | None:
    """One member added or removed as the caller; what `failed` says when it is not."""
    try:
        call.writes.modify(dn, [(op, "member", [member])])
    except errors.ACIError as refused:
        return refused.message
    except ldap.TYPE_OR_VALUE_EXISTS:
        return "This entry is already a member"
    except ldap.NO_SUCH_ATTRIBUTE:
        return "This entry is not a member"
    return None


def _role_privileges(call: Call, adding: bool) -> dict[str, Any]:
    role = _role(call, call.arg())
    completed, failed = _reverse_members(call, adding, role, "privileges")
    view = role_view(call, _role(call, call.arg()))
    return {"completed": completed, "failed": {"member": {"privilege": failed}}, "result": view}


@command("role_add_privilege", ("privilege",))
def role_add_privilege(call: Call) -> dict[str, Any]:
    return _role_privileges(call, True)


@command("role_remove_privilege", ("privilege",))
def role_remove_privilege(call: Call) -> dict[str, Any]:
    return _role_privileges(call, False)


# Privileges -------------------------------------------------------------------------------


def privilege_view(call: Call, entry: Entry, *, added: bool = False, find: bool = False) -> dict:
    tree = call.tree
    readable = call.readable(entry)
    keep = frozenset({"cn", "description", *(["objectclass"] if added else [])})
    view = _plain(entry, call.options, keep, readable)
    if _members_shown(call.options, find) and may_read(readable, "member"):
        roles = _in(tree, entry.get("member"), "roles")
        if roles:
            view["member_role"] = sorted(roles)
    if _members_shown(call.options, find) and may_read(readable, "memberof"):
        permissions = _holders(tree, "permissions", entry.dn)
        if permissions:
            view["memberof_permission"] = sorted(p.first("cn") for p in permissions)
    view["dn"] = entry.dn
    return view


def _privilege(call: Call, name: Any) -> Entry:
    entry = call.tree.directory.get(call.tree.privilege_dn(str(name or "")))
    if not call.can_read(entry):
        raise errors.not_found(str(name or ""), "privilege")
    assert entry is not None
    return entry


@command("privilege_add", ("description", "setattr", "addattr"))
def privilege_add(call: Call) -> dict[str, Any]:
    name = _check_name(call.arg())
    dn = call.tree.privilege_dn(name)
    attrs: dict[str, list] = {"objectClass": PRIVILEGE_CLASSES, "cn": [name]}
    if call.options.get("description"):
        attrs["description"] = [str(call.options["description"])]
    try:
        call.writes.add(dn, attrs)
    except ldap.ALREADY_EXISTS:
        raise errors.DuplicateEntry(f'privilege with name "{name}" already exists') from None
    view = privilege_view(call, _privilege(call, name), added=True)
    return {"result": view, "value": name, "summary": f'Added privilege "{name}"'}


@command("privilege_show")
def privilege_show(call: Call) -> dict[str, Any]:
    entry = _privilege(call, call.arg())
    return {"result": privilege_view(call, entry), "value": call.arg(), "summary": None}


@command("privilege_find", ("cn", "description"), find=True)
def privilege_find(call: Call) -> dict[str, Any]:
    entries = _found(call, "privileges", ("cn", "description"))
    return find_result(
        call, entries, "privilege", "privileges", lambda e: privilege_view(call, e, find=True)
    )


@command("privilege_del", ("continue",))
def privilege_del(call: Call) -> dict[str, Any]:
    names = _listed(call.arg())
    for name in names:
        entry = _existing(call, call.tree.privilege_dn(name), name, "privilege")
        call.writes.delete(entry.dn)
        for permission in _holders(call.tree, "permissions", entry.dn):
            call.tree.directory.modify(permission.dn, [(ldap.MOD_DELETE, "member", [entry.dn])])
    joined = ",".join(names)
    return {"result": {"failed": []}, "value": names, "summary": f'Deleted privilege "{joined}"'}


def _privilege_permissions(call: Call, adding: bool) -> dict[str, Any]:
    privilege = _privilege(call, call.arg())
    if adding:
        _only_permission_bind_rule(call, _listed(call.options.get("permission")))
    completed, failed = _reverse_members(call, adding, privilege, "permissions")
    view = privilege_view(call, _privilege(call, call.arg()))
    return {"completed": completed, "failed": {"member": {"permission": failed}}, "result": view}


def _only_permission_bind_rule(call: Call, names: list[str]) -> None:
    """privilege.py:61-83: only bind rule type `permission` can be given through privileges."""
    for name in names:
        entry = call.tree.directory.get(call.tree.permission_dn(name))
        bind = entry.first("ipapermbindruletype", "permission") if entry else "permission"
        if entry is not None and entry.has_class("ipapermissionv2") and bind != "permission":
            raise errors.ValidationError(
                name="permission",
                error=f'cannot add permission "{entry.first("cn")}" with bindtype "{bind}" '
                "to a privilege",
            )


@command("privilege_add_permission", ("permission",))
def privilege_add_permission(call: Call) -> dict[str, Any]:
    return _privilege_permissions(call, True)


@command("privilege_remove_permission", ("permission",))
def privilege_remove_permission(call: Call) -> dict[str, Any]:
    return _privilege_permissions(call, False)


# Permissions ------------------------------------------------------------------------------


def permission_view(call: Call, entry: Entry, *, added: bool = False, find: bool = False) -> dict:
    """permission.py:427-538 postprocess_result, for clients with the permissions2 capability."""
    tree = call.tree
    options = call.options
    readable = call.readable(entry)
    keep = PERMISSION_DEFAULTS | ({"objectclass"} if added else set())
    view = _plain(entry, options, keep, readable)
    if options.get("raw"):
        view["aci"] = [make_aci(entry)]
        if entry.get("member"):
            view["member"] = entry.get("member")
    else:
        target = entry.first("ipapermtarget", "")
        groups = tree.container("groups").lower()
        if target.lower().endswith("," + groups) and _rdn_value(target) != "*":
            view["targetgroup"] = [_rdn_value(target)]
        implicit, kind, memberof = _implicit_filters(tree, entry)
        if kind:
            view["type"] = [kind]
        if memberof:
            view["memberof"] = memberof
        extra = sorted(set(entry.get("ipapermtargetfilter")) - implicit)
        if extra:
            view["extratargetfilter"] = extra
        attrs = effective_attrs(entry)
        if attrs:
            view["attrs"] = attrs
        if not options.get("all") and not (
            entry.get("ipapermexcludedattr") or entry.get("ipapermdefaultattr")
        ):
            view.pop("ipapermincludedattr", None)
        if not options.get("all"):
            view.pop("ipapermtargetfilter", None)
    if _members_shown(options, find) and may_read(readable, "member") and not options.get("raw"):
        privileges = _in(tree, entry.get("member"), "privileges")
        if privileges:
            view["member_privilege"] = sorted(privileges)
            roles = _roles_of(tree, privileges)
            if roles:
                view["memberindirect_role"] = roles
    view["dn"] = entry.dn
    return view


def _roles_of(tree: Tree, privileges: list[str]) -> list[str]:
    """The roles holding these privileges: a permission's indirect members."""
    roles: set[str] = set()
    for name in privileges:
        privilege = tree.directory.get(tree.privilege_dn(name))
        if privilege is not None:
            roles |= set(_in(tree, privilege.get("member"), "roles"))
    return sorted(roles)


def _implicit_filters(tree: Tree, entry: Entry) -> tuple[set[str], str | None, list[str]]:
    """The filters `type` and `memberof` stand for (permission.py:377-425)."""
    filters = entry.get("ipapermtargetfilter")
    implicit: set[str] = set()
    memberof = []
    groups = tree.container("groups").lower()
    for text in filters:
        match = re.match(r"^\(memberof=(.*)\)$", text, re.I)
        if match and match.group(1).lower().endswith("," + groups):
            memberof.append(_rdn_value(match.group(1)))
            implicit.add(text)
    location = entry.first("ipapermlocation", "").lower()
    for kind, (container, type_filter) in PERMISSION_TYPES.items():
        if location == f"{container},{tree.base}".lower() and type_filter in filters:
            implicit.add(type_filter)
            return implicit, kind, memberof
    return implicit, None, memberof


def _permission(call: Call, name: Any) -> Entry:
    entry = call.tree.directory.get(call.tree.permission_dn(str(name or "")))
    if not call.can_read(entry):
        raise errors.not_found(str(name or ""), "permission")
    assert entry is not None
    return entry


def _permission_attrs(call: Call, name: str) -> dict[str, list]:
    """permission_add's options as the entry's attributes (permission.py:828-987, 1039-1054)."""
    tree = call.tree
    options = call.options
    _refuse_renamed(options)
    rights = [str(r).lower() for r in _listed(options.get("ipapermright"))]
    for right in rights:
        if right not in RIGHTS:
            raise errors.ValidationError(name="right", error=_one_of(RIGHTS))
    bind = str(options.get("ipapermbindruletype") or "permission")
    if bind not in BIND_TYPES:
        raise errors.ValidationError(name="bindtype", error=_one_of(BIND_TYPES))
    kind = options.get("type")
    if kind:
        _check_type(str(kind))
    for option, label in (("extratargetfilter", "filter"), ("ipapermtargetfilter", "rawfilter")):
        for text in _listed(options.get(option)):
            if not (text.startswith("(") and text.endswith(")")):
                raise errors.ValidationError(name=label, error="must be enclosed in parentheses")
    if "extratargetfilter" in options and "ipapermtargetfilter" in options:
        raise errors.ValidationError(
            name="ipapermtargetfilter",
            error="cannot specify full target filter and extra target filter simultaneously",
        )
    filters = _listed(options.get("extratargetfilter") or options.get("ipapermtargetfilter"))
    location = str(options.get("ipapermlocation") or "")
    if location.startswith("ldap:///"):
        location = location[len("ldap:///") :]
    target = str(options.get("ipapermtarget") or "")
    for group in _listed(options.get("memberof")):
        found = tree.group(group.lower())
        if found is None:
            raise errors.NotFound(reason=f"{group}: group not found")
        filters.append(f"(memberOf={found.dn})")
    if options.get("targetgroup"):
        if target:
            raise errors.ValidationError(
                name="ipapermtarget", error="target and targetgroup are mutually exclusive"
            )
        found = tree.group(str(options["targetgroup"]).lower())
        if found is None:
            raise errors.NotFound(reason=f"{options['targetgroup']}: group not found")
        target = found.dn
    if kind:
        if location:
            raise errors.ValidationError(
                name="ipapermlocation", error="subtree and type are mutually exclusive"
            )
        container, type_filter = PERMISSION_TYPES[str(kind).lower()]
        filters.append(type_filter)
        location = f"{container},{tree.base}"
    attrs: dict[str, list] = {
        "objectClass": PERMISSION_CLASSES,
        "cn": [name],
        "ipaPermissionType": ["SYSTEM", "V2"],
        "ipaPermRight": rights,
        "ipaPermBindRuleType": [bind],
        "ipaPermLocation": [location or tree.base],
        "ipaPermTargetFilter": filters,
        "ipaPermIncludedAttr": _listed(options.get("attrs")),
        "ipaPermTarget": [target] if target else [],
    }
    for option, attribute in (
        ("ipapermtargetto", "ipaPermTargetTo"),
        ("ipapermtargetfrom", "ipaPermTargetFrom"),
    ):
        if options.get(option):
            attrs[attribute] = [str(options[option])]
    return attrs


def _refuse_renamed(options: dict[str, Any]) -> None:
    """permission.py:870-883: API 2.253 clients have the permissions2 capability."""
    for old, new in RENAMED_OPTIONS.items():
        if options.get(old) is not None:
            raise errors.ValidationError(name=old, error=f"option was renamed; use {new}")


def _one_of(values: tuple[str, ...]) -> str:
    return "must be one of " + ", ".join(f"'{v}'" for v in values)


def _check_type(kind: str) -> None:
    """permission.py:146-153 validate_type."""
    if kind in NOT_PERMISSION_TYPES:
        raise errors.ValidationError(name="type", error=f'"{kind}" is not a valid permission type')
    if kind not in PERMISSION_TYPES:
        raise errors.ValidationError(name="type", error=f'"{kind}" is not an object type')


def _validate(call: Call, entry: Entry) -> None:
    """permission.py:946-987 validate_permission, then 389-ds's own check of the ACI."""
    tree = call.tree
    filters = entry.get("ipapermtargetfilter")
    if filters:
        try:
            tree.directory.search(tree.base, "(&{})".format("".join(filters)), ldap.SCOPE_BASE)
        except ldap.FILTER_ERROR as error:
            raise errors.ValidationError(
                name="ipapermtargetfilter", error="Bad search filter"
            ) from error
    location = entry.first("ipapermlocation")
    if location and tree.directory.get(location) is None:
        raise errors.ValidationError(
            name="ipapermlocation", error=f"Entry {location} does not exist"
        )
    specifiers = (
        "ipapermtarget",
        "ipapermtargetfilter",
        "ipapermincludedattr",
        "ipapermexcludedattr",
        "ipapermdefaultattr",
    )
    if not any(entry.get(name) for name in specifiers):
        raise errors.ValidationError(
            name="target",
            error="there must be at least one target entry specifier "
            "(e.g. target, targetfilter, attrs)",
        )
    if not entry.get("ipapermright"):
        raise errors.RequirementError(name="right")
    known = tree.directory.attribute_names()
    for attr in effective_attrs(entry):
        if attr != "*" and attr not in known:
            aci = make_aci(entry).replace('"', "\\22")
            raise errors.InvalidSyntax(
                attr=f'targetattr "{attr}" does not exist in schema. Please add attributeTypes '
                f'"{attr}" to schema if necessary. ACL Syntax Error(-5):{aci}'
            )


@command("permission_add", (*PERMISSION_OPTIONS, "setattr", "addattr"))
def permission_add(call: Call) -> dict[str, Any]:
    tree = call.tree
    name = _check_name(call.arg(), PERMISSION_NAME)
    dn = tree.permission_dn(name)
    attrs = _permission_attrs(call, name)
    entry = pending(dn, attrs)
    _validate(call, entry)
    location = tree.directory.get(entry.first("ipapermlocation"))
    assert location is not None
    try:
        call.writes.add(dn, attrs)
    except ldap.ALREADY_EXISTS:
        raise errors.DuplicateEntry(f'permission with name "{name}" already exists') from None
    aci = directory_aci(entry, tree.directory.attribute_names())
    try:
        if aci is not None:
            with contextlib.suppress(ldap.TYPE_OR_VALUE_EXISTS):
                call.writes.modify(location.dn, [(ldap.MOD_ADD, "aci", [aci])])
    except errors.ACIError:
        # permission.py:1056-1082: the ACI could not be written, so the entry goes again.
        tree.directory.delete(dn)
        raise
    view = permission_view(call, _permission(call, name), added=True)
    return {"result": view, "value": name, "summary": f'Added permission "{name}"'}


@command("permission_show")
def permission_show(call: Call) -> dict[str, Any]:
    entry = _permission(call, call.arg())
    return {"result": permission_view(call, entry), "value": call.arg(), "summary": None}


PERMISSION_FIND_OPTIONS = (
    *PERMISSION_OPTIONS,
    "cn",
    "ipapermincludedattr",
    "ipapermexcludedattr",
    "ipapermdefaultattr",
)


@command("permission_find", PERMISSION_FIND_OPTIONS, find=True)
def permission_find(call: Call) -> dict[str, Any]:
    """LDAPSearch on permissions: the criteria anywhere, each option an exact value."""
    _refuse_renamed(call.options)
    entries = _found(call, "permissions", tuple(PERMISSION_DEFAULTS | {"member"}))
    for option in PERMISSION_FIND_OPTIONS:
        wanted = {str(v).lower() for v in _listed(call.options.get(option))}
        if wanted:
            entries = [e for e in entries if wanted <= _permission_fields(call.tree, e, option)]
    return find_result(
        call,
        entries,
        "permission",
        "permissions",
        lambda e: permission_view(call, e, find=True),
    )


def _permission_fields(tree: Tree, entry: Entry, option: str) -> set[str]:
    """The values a permission has for a search option, virtual ones (type, attrs...) too."""
    implicit, kind, memberof = _implicit_filters(tree, entry)
    target = entry.first("ipapermtarget", "")
    virtual = {
        "type": [kind] if kind else [],
        "memberof": memberof,
        "attrs": effective_attrs(entry),
        "extratargetfilter": sorted(set(entry.get("ipapermtargetfilter")) - implicit),
        "targetgroup": [_rdn_value(target)] if target else [],
    }
    values = virtual[option] if option in virtual else entry.get(option)
    return {str(v).lower() for v in values}


@command("permission_del", ("continue", "force"))
def permission_del(call: Call) -> dict[str, Any]:
    names = _listed(call.arg())
    for name in names:
        entry = _existing(call, call.tree.permission_dn(name), name, "permission")
        if not call.flag("force"):
            _reject_system(entry)
        # permission.py:1102-1118: its ACI is removed first, then the entry, as the caller.
        location = entry.first("ipapermlocation", call.tree.base)
        aci = directory_aci(entry, call.tree.directory.attribute_names())
        if aci is not None:
            with contextlib.suppress(ldap.NO_SUCH_ATTRIBUTE, ldap.NO_SUCH_OBJECT):
                call.writes.modify(location, [(ldap.MOD_DELETE, "aci", [aci])])
        call.writes.delete(entry.dn)
    joined = ",".join(names)
    return {"result": {"failed": []}, "value": names, "summary": f'Deleted permission "{joined}"'}


def _reject_system(entry: Entry) -> None:
    """permission.py:365-375 reject_system and 1102-1112: what permission_del refuses."""
    flags = entry.get("ipapermissiontype")
    for flag in flags:
        if flag not in ("SYSTEM", "V2", "MANAGED"):
            raise errors.ACIError(
                info=f"Permission with unknown flag {flag} may not be modified or removed"
            )
    if list(flags) == ["SYSTEM"]:
        raise errors.ACIError(info="A SYSTEM permission may not be modified or removed")
    if entry.get("ipapermdefaultattr"):
        raise errors.ACIError(info="cannot delete managed permissions")


# Shared -----------------------------------------------------------------------------------


def _existing(call: Call, dn: str, name: str, label: str) -> Entry:
    """LDAPDelete deletes without reading first: only a missing entry is NotFound."""
    entry = call.tree.directory.get(dn)
    if entry is None:
        raise errors.not_found(name, label)
    return entry


def _found(call: Call, kind: str, searched: tuple[str, ...]) -> list[Entry]:
    """An LDAPSearch as the caller: the criteria in any searched attribute it may read."""
    term = str(call.arg() or "").lower()
    entries = call.reads.search(call.tree.container(kind))
    for option in ("cn", "description"):
        wanted = call.options.get(option)
        if wanted and option in searched:
            entries = [e for e in entries if str(wanted).lower() in map(str.lower, e.get(option))]
    if term:
        entries = [
            e
            for e in entries
            if any(term in str(v).lower() for name in searched for v in e.get(name))
        ]
    return entries
