"""pwpolicy_* commands: the global and per-group password policies."""

from __future__ import annotations

from typing import Any

import ldap

from .. import errors, passwords
from ..store import Entry
from ..tree import Tree
from . import Call, command
from .users import normalize_name, visible_user

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
    """pwpolicy.py:725-739: with `user`, the policy its krbPwdPolicyReference names (the CoS
    choice, see passwords.policy_entry_for); the user is looked up with user_show first."""
    entry = _require_policy(call)
    if call.options.get("user"):
        user = visible_user(call, normalize_name(call.options["user"]))
        entry = passwords.policy_entry_for(call.tree, user) or entry
    return {"result": _policy_view(entry), "value": call.arg(), "summary": None}


@command("pwpolicy_mod", (*POLICY_OPTIONS, "setattr", "addattr", "delattr"))
def pwpolicy_mod(call: Call) -> dict[str, Any]:
    entry = _require_policy(call)
    changes = _policy_changes(call.options)
    if all([str(v) for v in values] == entry.get(name) for name, values in changes.items()):
        raise errors.EmptyModlist()
    call.writes.replace(entry.dn, changes)
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
    if call.options.get("cospriority") is None:
        raise errors.RequirementError(name="cospriority")
    attrs = {
        "objectClass": [c.lower() for c in POLICY_CLASSES],
        "cn": [group],
        # FreeIPA's default for a new group policy; keyed as the options are, so one replaces it.
        "passwordgracelimit": [passwords.UNLIMITED_GRACE],
    }
    attrs.update(_policy_changes(call.options))
    try:
        call.writes.add(dn, attrs)
    except ldap.ALREADY_EXISTS:
        raise errors.DuplicateEntry(f'password policy with name "{group}" already exists') from None
    return {"result": _policy_view(call.tree.directory.get(dn)), "value": group, "summary": None}


@command("pwpolicy_del", ("continue",))
def pwpolicy_del(call: Call) -> dict[str, Any]:
    entry = _require_policy(call)
    call.writes.delete(entry.dn)
    return {
        "result": {"failed": []},
        "value": [call.arg()],
        "summary": f'Deleted password policy "{call.arg()}"',
    }
