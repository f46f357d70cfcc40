"""pwpolicy_* and role_* commands: password policies and the roles that grant privileges."""

from __future__ import annotations

from typing import Any

import ldap

from .. import errors, passwords
from ..store import Entry
from ..tree import ACTIVE, Tree
from . import Call, command
from .users import _listed

# Shown in FreeIPA's units, stored in seconds as Kerberos keeps them.
SCALE = {"krbmaxpwdlife": 86_400, "krbminpwdlife": 3_600}
POLICY_OPTIONS = (
    "krbmaxpwdlife",
    "krbminpwdlife",
    "krbpwdhistorylength",
    "krbpwdmindiffchars",
    "krbpwdminlength",
    "krbpwdmaxfailure",
    "krbpwdfailurecountinterval",
    "krbpwdlockoutduration",
    "passwordgracelimit",
    "cospriority",
    "ipapwdmaxrepeat",
    "ipapwdmaxsequence",
    "ipapwddictcheck",
    "ipapwdusercheck",
)
POLICY_CLASSES = ["top", "nsContainer", "krbPwdPolicy", "ipaPwdPolicy"]


def _policy_dn(tree: Tree, group: str | None) -> str:
    return tree.global_policy_dn if not group else f"cn={group},{tree.container('kerberos')}"


def _policy_view(entry: Entry) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for name, values in entry.attrs.items():
        scale = SCALE.get(name)
        view[name] = [str(int(v) // scale) for v in values] if scale else list(values)
    view["dn"] = entry.dn
    return view


def _policy_changes(options: dict[str, Any]) -> dict[str, list]:
    changes = {}
    for name in POLICY_OPTIONS:
        if options.get(name) is not None:
            value = int(options[name]) * SCALE.get(name, 1)
            changes[name] = [value]
    if "passwordgracelimit" in changes:
        _check_grace_limit(changes["passwordgracelimit"][0])
    return changes


def _check_grace_limit(value: int) -> None:
    """Int('passwordgracelimit?', cli_name='gracelimit', minvalue=-1, maxvalue=Int.MAXINT)."""
    if value < passwords.UNLIMITED_GRACE:
        raise errors.ValidationError(
            name="gracelimit", error=f"must be at least {passwords.UNLIMITED_GRACE}"
        )
    if value > passwords.MAX_GRACE_LIMIT:
        raise errors.ValidationError(
            name="gracelimit", error=f"can be at most {passwords.MAX_GRACE_LIMIT}"
        )


def _require_policy(call: Call) -> Entry:
    group = call.arg()
    entry = call.tree.directory.get(_policy_dn(call.tree, group))
    if entry is None:
        raise errors.not_found(group or "global_policy", "password policy")
    return entry


@command("pwpolicy_show", ("user",))
def pwpolicy_show(call: Call) -> dict[str, Any]:
    return {"result": _policy_view(_require_policy(call)), "value": call.arg(), "summary": None}


@command("pwpolicy_mod", (*POLICY_OPTIONS, "setattr", "addattr", "delattr"))
def pwpolicy_mod(call: Call) -> dict[str, Any]:
    entry = _require_policy(call)
    call.require_admin(errors.write_denied("krbPwdPolicy", entry.dn))
    changes = _policy_changes(call.options)
    if all([str(v) for v in values] == entry.get(name) for name, values in changes.items()):
        raise errors.EmptyModlist()
    call.tree.directory.replace(entry.dn, changes)
    if "passwordgracelimit" in changes and entry.dn.lower() == call.tree.global_policy_dn.lower():
        # Only the global policy's limit reaches LDAP binds (README: expired passwords).
        passwords.enforce_grace_limit(call.tree)
    view = _policy_view(call.tree.directory.get(entry.dn))
    return {"result": view, "value": call.arg(), "summary": None}


@command("pwpolicy_add", (*POLICY_OPTIONS, "setattr", "addattr"))
def pwpolicy_add(call: Call) -> dict[str, Any]:
    group = str(call.arg() or "")
    call.tree.require_group(group)
    dn = _policy_dn(call.tree, group)
    call.require_admin(errors.add_denied(dn))
    if call.options.get("cospriority") is None:
        raise errors.RequirementError(name="cospriority")
    if call.tree.directory.get(dn) is not None:
        raise errors.DuplicateEntry(f'password policy with name "{group}" already exists')
    attrs = {
        "objectClass": [c.lower() for c in POLICY_CLASSES],
        "cn": [group],
        # FreeIPA's default for a new group policy; keyed as the options are, so one replaces it.
        "passwordgracelimit": [passwords.UNLIMITED_GRACE],
    }
    attrs.update(_policy_changes(call.options))
    call.tree.directory.add(dn, attrs)
    return {"result": _policy_view(call.tree.directory.get(dn)), "value": group, "summary": None}


@command("pwpolicy_del", ("continue",))
def pwpolicy_del(call: Call) -> dict[str, Any]:
    entry = _require_policy(call)
    call.require_admin(errors.delete_denied(entry.dn))
    call.tree.directory.delete(entry.dn)
    return {
        "result": {"failed": []},
        "value": [call.arg()],
        "summary": f'Deleted password policy "{call.arg()}"',
    }


def _role_view(tree: Tree, entry: Entry) -> dict[str, Any]:
    view: dict[str, Any] = {
        k: list(v) for k, v in entry.attrs.items() if k not in ("member", "memberof")
    }
    users = [
        dn.split(",", 1)[0][4:]
        for dn in entry.get("member")
        if dn.lower().endswith(tree.container(ACTIVE).lower())
    ]
    if users:
        view["member_user"] = sorted(users)
    privileges = tree.groups_with("member", entry.dn, "privileges")
    if privileges:
        view["memberof_privilege"] = sorted(p.first("cn") for p in privileges)
    view["dn"] = entry.dn
    return view


def _require_role(call: Call) -> Entry:
    name = str(call.arg() or "")
    entry = call.tree.directory.get(call.tree.role_dn(name))
    if entry is None:
        raise errors.not_found(name, "role")
    return entry


@command("role_add", ("description", "setattr", "addattr"))
def role_add(call: Call) -> dict[str, Any]:
    name = str(call.arg() or "")
    dn = call.tree.role_dn(name)
    call.require_admin(errors.add_denied(dn))
    if call.tree.directory.get(dn) is not None:
        raise errors.DuplicateEntry(f'role with name "{name}" already exists')
    attrs = {"objectClass": ["groupofnames", "nestedgroup", "top"], "cn": [name]}
    if call.options.get("description"):
        attrs["description"] = [str(call.options["description"])]
    call.tree.directory.add(dn, attrs)
    view = _role_view(call.tree, call.tree.directory.get(dn))
    return {"result": view, "value": name, "summary": f'Added role "{name}"'}


@command("role_show")
def role_show(call: Call) -> dict[str, Any]:
    return {
        "result": _role_view(call.tree, _require_role(call)),
        "value": call.arg(),
        "summary": None,
    }


@command("role_del", ("continue",))
def role_del(call: Call) -> dict[str, Any]:
    entry = _require_role(call)
    call.require_admin(errors.delete_denied(entry.dn))
    for privilege in call.tree.groups_with("member", entry.dn, "privileges"):
        call.tree.directory.modify(privilege.dn, [(ldap.MOD_DELETE, "member", [entry.dn])])
    call.tree.directory.delete(entry.dn)
    name = call.arg()
    return {"result": {"failed": []}, "value": [name], "summary": f'Deleted role "{name}"'}


@command("role_add_privilege", ("privilege",))
def role_add_privilege(call: Call) -> dict[str, Any]:
    entry = _require_role(call)
    call.require_admin(errors.write_denied("member", entry.dn))
    failed, completed = [], 0
    for name in _listed(call.options.get("privilege")):
        dn = f"cn={name},{call.tree.container('privileges')}"
        privilege = call.tree.directory.get(dn)
        if privilege is None:
            failed.append([name, "privilege not found"])
        elif entry.dn.lower() in {m.lower() for m in privilege.get("member")}:
            failed.append([name, "This entry is already a member"])
        else:
            call.tree.directory.modify(dn, [(ldap.MOD_ADD, "member", [entry.dn])])
            completed += 1
    view = _role_view(call.tree, call.tree.directory.get(entry.dn))
    return {"completed": completed, "failed": {"member": {"privilege": failed}}, "result": view}


ROLE_MEMBER_KINDS = ("user", "group", "host", "hostgroup", "service", "idoverrideuser")


def _role_members(call: Call, adding: bool) -> dict[str, Any]:
    entry = _require_role(call)
    call.require_admin(errors.write_denied("member", entry.dn))
    failed: dict[str, list] = {kind: [] for kind in ROLE_MEMBER_KINDS}
    current = {m.lower() for m in entry.get("member")}
    completed = 0
    for kind in ROLE_MEMBER_KINDS:
        for name in _listed(call.options.get(kind)):
            dn = call.tree.user_dn(name) if kind == "user" else call.tree.group_dn(name)
            if kind not in ("user", "group") or (adding and call.tree.directory.get(dn) is None):
                failed[kind].append([name, "no such entry"])
            elif adding == (dn.lower() in current):
                message = (
                    "This entry is already a member" if adding else "This entry is not a member"
                )
                failed[kind].append([name, message])
            else:
                op = ldap.MOD_ADD if adding else ldap.MOD_DELETE
                call.tree.directory.modify(entry.dn, [(op, "member", [dn])])
                completed += 1
    view = _role_view(call.tree, call.tree.directory.get(entry.dn))
    return {"completed": completed, "failed": {"member": failed}, "result": view}


@command("role_add_member", ROLE_MEMBER_KINDS)
def role_add_member(call: Call) -> dict[str, Any]:
    return _role_members(call, True)


@command("role_remove_member", ROLE_MEMBER_KINDS)
def role_remove_member(call: Call) -> dict[str, Any]:
    return _role_members(call, False)
