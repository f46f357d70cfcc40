"""group_* commands, including members and member managers (group sponsors)."""

from __future__ import annotations

from typing import Any

import ldap

from .. import errors
from ..store import escape
from ..tree import ACTIVE, ADMINS, DEFAULT_GROUP, Tree, unique_id
from ..views import group_view
from . import Call, command
from .users import _listed, find_result, normalize_name

MEMBER_KINDS = {
    "member": ("user", "group", "service", "idoverrideuser"),
    "membermanager": ("user", "group"),
}


@command("group_add", ("description", "gidnumber", "nonposix", "external", "setattr", "addattr"))
def group_add(call: Call) -> dict[str, Any]:
    tree = call.tree
    name = normalize_name(call.arg(), "group_name")
    dn = tree.group_dn(name)
    classes = ["top", "groupofnames", "nestedgroup", "ipausergroup", "ipaobject"]
    attrs: dict[str, list] = {"cn": [name], "ipaUniqueID": [unique_id()]}
    if call.options.get("description"):
        attrs["description"] = [str(call.options["description"])]
    posix = not call.flag("nonposix") and not call.flag("external")
    if posix:
        classes += ["posixgroup", "ipantgroupattrs"]
    attrs["objectClass"] = classes
    if posix:
        # DNA and sidgen fill these in as the directory itself; the add is the caller's.
        gid = int(call.options.get("gidnumber") or 0) or tree.new_id()
        attrs["gidNumber"] = [gid]
        attrs["ipaNTSecurityIdentifier"] = [tree.sid(gid)]
    try:
        call.writes.add(dn, attrs)
    except ldap.ALREADY_EXISTS:
        raise errors.DuplicateEntry(f'group with name "{name}" already exists') from None
    entry = tree.directory.get(dn)
    view = group_view(tree, entry, call.options, readable=call.readable(entry), added=True)
    return {"result": view, "value": name, "summary": f'Added group "{name}"'}


@command("group_show")
def group_show(call: Call) -> dict[str, Any]:
    name = normalize_name(call.arg(), "group_name")
    entry = call.tree.require_group(name)
    view = group_view(call.tree, entry, call.options, readable=call.readable(entry))
    return {"result": view, "value": name, "summary": None}


@command(
    "group_find",
    (
        "cn",
        "description",
        "gidnumber",
        "private",
        "posix",
        "nonposix",
        "external",
        "user",
        "no_user",
        "group",
        "no_group",
        "in_group",
        "not_in_group",
        "membermanager_user",
        "not_membermanager_user",
        "membermanager_group",
        "not_membermanager_group",
    ),
    find=True,
)
def group_find(call: Call) -> dict[str, Any]:
    tree = call.tree
    options = call.options
    parts = ["(objectClass=posixgroup)" if call.flag("posix") else "(objectClass=*)"]
    if not call.flag("private"):
        parts.append("(!(objectClass=mepManagedEntry))")
    else:
        parts.append("(objectClass=mepManagedEntry)")
    if call.flag("nonposix"):
        parts.append("(!(objectClass=posixgroup))")
    if call.arg():
        term = escape(str(call.arg()))
        parts.append(f"(|(cn=*{term}*)(description=*{term}*))")
    for name in ("cn", "description", "gidnumber"):
        if options.get(name) not in (None, ""):
            parts.append(f"({name}={escape(str(options[name]))})")
    for option, attribute, kind in (
        ("user", "member", ACTIVE),
        ("group", "member", "groups"),
        ("membermanager_user", "memberManager", ACTIVE),
        ("membermanager_group", "memberManager", "groups"),
    ):
        for value in _listed(options.get(option)):
            parts.append(f"({attribute}={escape(_member_dn(tree, kind, value))})")
    entries = call.reads.search(tree.container("groups"), "(&" + "".join(parts) + ")")
    return find_result(
        call,
        entries,
        "group",
        "groups",
        lambda e: group_view(tree, e, options, readable=frozenset(e.attrs), find=True),
    )


def _member_dn(tree: Tree, kind: str, name: str) -> str:
    return tree.user_dn(name.lower()) if kind == ACTIVE else tree.group_dn(name.lower())


@command("group_del", ("continue",))
def group_del(call: Call) -> dict[str, Any]:
    tree = call.tree
    names = [normalize_name(n, "group_name") for n in _listed(call.arg())]
    for name in names:
        entry = tree.group(name)
        if entry is None:
            raise errors.not_found(name, "group")
        if entry.has_class("mepManagedEntry"):
            raise errors.ManagedGroupError()
        if name == DEFAULT_GROUP:
            raise errors.DefaultGroupError()
        if name == ADMINS:
            raise errors.ProtectedEntryError(label="group", key=name, reason="privileged group")
        call.writes.delete(entry.dn)
        # Referential integrity, as the directory itself (install/updates/25-referint.update).
        for holder in tree.groups_with("member", entry.dn) + tree.groups_with(
            "memberManager", entry.dn
        ):
            for attribute in ("member", "memberManager"):
                if entry.dn.lower() in {v.lower() for v in holder.get(attribute)}:
                    tree.directory.modify(holder.dn, [(ldap.MOD_DELETE, attribute, [entry.dn])])
        policy = tree.directory.get(f"cn={name},{tree.container('kerberos')}")
        if policy is not None:
            tree.directory.delete(policy.dn)
    return {
        "result": {"failed": []},
        "value": names,
        "summary": f'Deleted group "{",".join(names)}"',
    }


def _change_members(call: Call, attribute: str, adding: bool) -> dict[str, Any]:
    tree = call.tree
    name = normalize_name(call.arg(), "group_name")
    group = tree.require_group(name)
    failed: dict[str, list] = {kind: [] for kind in MEMBER_KINDS[attribute]}
    # ldap2.py:404-440: a member to add must exist; then each is one modify as the caller,
    # where 389-ds checks the ACIs before the values, so a refusal wins over "already a member".
    op = ldap.MOD_ADD if adding else ldap.MOD_DELETE
    completed = 0
    for kind in MEMBER_KINDS[attribute]:
        for value in _listed(call.options.get(kind)):
            if kind not in ("user", "group"):
                failed[kind].append([value, "no such entry"])
                continue
            dn = _member_dn(tree, ACTIVE if kind == "user" else "groups", value)
            if adding and tree.directory.get(dn) is None:
                failed[kind].append([value, "no such entry"])
                continue
            try:
                call.writes.modify(group.dn, [(op, attribute, [dn])])
            except errors.ACIError as refused:
                failed[kind].append([value, refused.message])
            except ldap.TYPE_OR_VALUE_EXISTS:
                failed[kind].append([value, "This entry is already a member"])
            except ldap.NO_SUCH_ATTRIBUTE:
                failed[kind].append([value, "This entry is not a member"])
            else:
                completed += 1
    group = tree.directory.get(group.dn)
    view = group_view(tree, group, call.options, readable=call.readable(group))
    return {"completed": completed, "failed": {attribute: failed}, "result": view}


MEMBER_OPTIONS = ("user", "group", "service", "idoverrideuser")


@command("group_add_member", MEMBER_OPTIONS)
def group_add_member(call: Call) -> dict[str, Any]:
    return _change_members(call, "member", True)


@command("group_remove_member", MEMBER_OPTIONS)
def group_remove_member(call: Call) -> dict[str, Any]:
    return _change_members(call, "member", False)


@command("group_add_member_manager", ("user", "group"))
def group_add_member_manager(call: Call) -> dict[str, Any]:
    return _change_members(call, "membermanager", True)


@command("group_remove_member_manager", ("user", "group"))
def group_remove_member_manager(call: Call) -> dict[str, Any]:
    return _change_members(call, "membermanager", False)
