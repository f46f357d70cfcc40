"""stageuser_* commands: users waiting in cn=staged users until someone activates them."""

from __future__ import annotations

import contextlib
from typing import Any

import ldap

from .. import errors, passwords
from ..tree import ACTIVE, PRESERVED, STAGED, unique_id
from ..views import user_view
from . import Call, command
from .users import (
    ACTIVE_EXTRA_CLASSES,
    CARRIED_AS_ROOT,
    PERSON_OPTIONS,
    USER_CLASSES,
    _listed,
    activate,
    carry_secrets,
    drop_private_group,
    find_result,
    join_default_group,
    normalize_name,
    person_attributes,
    searched,
    user_filter,
    visible_user,
)

# FreeIPA's DNA plugin replaces this "allocate me a number" marker at activation.
DNA_MAGIC = "-1"


@command(
    "stageuser_add",
    (
        *PERSON_OPTIONS,
        "homedirectory",
        "uidnumber",
        "gidnumber",
        "random",
        "userpassword",
        "from_delete",
    ),
)
def stageuser_add(call: Call) -> dict[str, Any]:
    tree = call.tree
    uid = normalize_name(call.arg())
    dn = tree.user_dn(uid, STAGED)
    attrs = person_attributes(tree, uid, call.options)
    attrs.update(
        objectClass=USER_CLASSES + attrs.pop("objectClass", []),
        uidNumber=[call.options.get("uidnumber") or DNA_MAGIC],
        gidNumber=[call.options.get("gidnumber") or DNA_MAGIC],
        ipaUniqueID=["autogenerate"],
        nsAccountLock=["TRUE"],
    )
    attrs.setdefault("description", ["__no_upg__"])
    if call.options.get("userpassword"):
        attrs["userPassword"] = [str(call.options["userpassword"])]
    try:
        call.writes.add(dn, attrs)
    except ldap.ALREADY_EXISTS:
        raise errors.DuplicateEntry(f'stage user with name "{uid}" already exists') from None
    # LDAPCreate reads the new entry back as the caller (baseldap.py:1317-1332): with
    # "Stage User Provisioning" alone it is added but not found.
    entry = visible_user(call, uid, (STAGED,))
    # stageuser.py:421-427: the whole entry ('*') is read back after the add.
    view = user_view(tree, entry, call.options, readable=call.readable(entry), added=True)
    return {"result": view, "value": uid, "summary": f'Added stage user "{uid}"'}


@command("stageuser_show")
def stageuser_show(call: Call) -> dict[str, Any]:
    uid = normalize_name(call.arg())
    entry = visible_user(call, uid, (STAGED,))
    view = user_view(call.tree, entry, call.options, readable=call.readable(entry))
    return {"result": view, "value": uid, "summary": None}


@command("stageuser_find", (*PERSON_OPTIONS, "uid", "uidnumber", "gidnumber"), find=True)
def stageuser_find(call: Call) -> dict[str, Any]:
    tree = call.tree
    entries = call.reads.search(tree.container(STAGED), user_filter(call.arg(), call.options))
    return find_result(
        call,
        entries,
        "user",
        "users",
        lambda e: user_view(
            tree,
            e,
            call.options,
            readable=frozenset(e.attrs),
            find=True,
            asked=searched(call.options),
        ),
    )


STAGE_MOD_OPTIONS = (*PERSON_OPTIONS, "homedirectory", "uidnumber", "gidnumber")


@command("stageuser_mod", (*STAGE_MOD_OPTIONS, "userpassword", "random"))
def stageuser_mod(call: Call) -> dict[str, Any]:
    """baseldap.py:1502-1610 with stageuser.py:446-465: nsaccountlock is never written nor shown."""
    tree = call.tree
    uid = normalize_name(call.arg())
    entry = visible_user(call, uid, (STAGED,))
    changes: dict[str, list] = {}
    for name in STAGE_MOD_OPTIONS:
        if name in call.options:
            values = _listed(call.options[name])
            if sorted(values) != sorted(entry.get(name)):
                changes[name] = values
    # baseuser.py:744-749: random only when no password is given; written like any attribute.
    generated = None
    if call.flag("random") and not call.options.get("userpassword"):
        generated = passwords.random_password()
    password = call.options.get("userpassword") or generated
    if password:
        changes["userPassword"] = [str(password)]
    if not changes:
        raise errors.EmptyModlist()
    mods = [(ldap.MOD_REPLACE, name, values or None) for name, values in changes.items()]
    if "ipauserauthtype" in changes and not entry.has_class("ipaUserAuthTypeClass"):
        mods.insert(0, (ldap.MOD_ADD, "objectClass", ["ipaUserAuthTypeClass"]))
    call.writes.modify(entry.dn, mods)
    entry = tree.directory.get(entry.dn)
    view = user_view(
        tree,
        entry,
        call.options,
        readable=call.readable(entry),
        updated=True,
        asked=frozenset(changes),
    )
    view.pop("nsaccountlock", None)
    if generated:
        view["randompassword"] = generated
    return {"result": view, "value": uid, "summary": f'Modified stage user "{uid}"'}


@command("stageuser_del", ("continue",))
def stageuser_del(call: Call) -> dict[str, Any]:
    tree = call.tree
    uids = [normalize_name(u) for u in _listed(call.arg())]
    for uid in uids:
        entry = tree.require_user(uid, (STAGED,))
        call.writes.delete(entry.dn)
    joined = ",".join(uids)
    return {"result": {"failed": []}, "value": uids, "summary": f'Deleted stage user "{joined}"'}


@command("stageuser_activate")
def stageuser_activate(call: Call) -> dict[str, Any]:
    tree = call.tree
    uid = normalize_name(call.arg())
    entry = visible_user(call, uid, (STAGED,))
    if tree.user(uid, (ACTIVE, PRESERVED)) is not None:
        raise errors.DuplicateEntry(f'active user with name "{uid}" already exists')
    if tree.group(uid) is not None:
        raise errors.ManagedGroupExistsError(group=uid)
    # stageuser.py:742-760: the active entry is added as the caller, then the staged one
    # deleted as the caller; if that is refused, the active one is deleted again.
    attrs = {k: v for k, v in entry.attrs.items() if k not in CARRIED_AS_ROOT}
    attrs["objectclass"] = entry.get("objectclass") + ACTIVE_EXTRA_CLASSES
    if entry.first("ipauniqueid") == "autogenerate":
        attrs["ipauniqueid"] = [unique_id()]
    dn = tree.user_dn(uid)
    call.writes.add(dn, attrs)
    carry_secrets(tree, entry, dn)
    activate(tree, dn, uid)
    try:
        call.writes.delete(entry.dn)
    except errors.ACIError:
        with contextlib.suppress(errors.ACIError):
            call.writes.delete(dn)
            drop_private_group(tree, uid)
        raise
    join_default_group(call, dn)
    active = tree.directory.get(dn)
    view = user_view(tree, active, call.options, readable=call.readable(active))
    return {"result": view, "value": uid, "summary": f"Stage user {uid} activated"}
