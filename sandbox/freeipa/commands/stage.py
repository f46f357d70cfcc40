"""stageuser_* commands: users waiting in cn=staged users until someone activates them."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..tree import ACTIVE, PRESERVED, STAGE_ADMIN_PRIVILEGE, STAGED, unique_id
from ..views import user_view
from . import Call, command
from .users import (
    PERSON_OPTIONS,
    USER_CLASSES,
    _listed,
    activate,
    find_result,
    normalize_name,
    person_attributes,
    user_filter,
)

# FreeIPA's DNA plugin replaces this "allocate me a number" marker at activation.
DNA_MAGIC = "-1"


def _require_stage_admin(call: Call, denial: errors.PublicError) -> None:
    if not call.tree.has_privilege(call.caller.dn, STAGE_ADMIN_PRIVILEGE):
        raise denial


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
    _require_stage_admin(call, errors.add_denied(dn))
    if tree.user(uid, (STAGED,)) is not None:
        raise errors.DuplicateEntry(f'stage user with name "{uid}" already exists')
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
    tree.directory.add(dn, attrs)
    view = user_view(tree, tree.directory.get(dn), call.options)
    return {"result": view, "value": uid, "summary": f'Added stage user "{uid}"'}


@command("stageuser_show")
def stageuser_show(call: Call) -> dict[str, Any]:
    uid = normalize_name(call.arg())
    entry = call.tree.require_user(uid, (STAGED,))
    _require_stage_admin(call, errors.not_found(uid, "stage user"))
    return {"result": user_view(call.tree, entry, call.options), "value": uid, "summary": None}


@command("stageuser_find", (*PERSON_OPTIONS, "uid", "uidnumber", "gidnumber"), find=True)
def stageuser_find(call: Call) -> dict[str, Any]:
    tree = call.tree
    entries = tree.directory.search(tree.container(STAGED), user_filter(call.arg(), call.options))
    if not tree.has_privilege(call.caller.dn, STAGE_ADMIN_PRIVILEGE):
        entries = []
    return find_result(
        call, entries, "user", "users", lambda e: user_view(tree, e, call.options, find=True)
    )


@command("stageuser_del", ("continue",))
def stageuser_del(call: Call) -> dict[str, Any]:
    tree = call.tree
    uids = [normalize_name(u) for u in _listed(call.arg())]
    for uid in uids:
        entry = tree.require_user(uid, (STAGED,))
        _require_stage_admin(call, errors.delete_denied(entry.dn))
        tree.directory.delete(entry.dn)
    joined = ",".join(uids)
    return {"result": {"failed": []}, "value": uids, "summary": f'Deleted stage user "{joined}"'}


@command("stageuser_activate")
def stageuser_activate(call: Call) -> dict[str, Any]:
    tree = call.tree
    uid = normalize_name(call.arg())
    entry = tree.require_user(uid, (STAGED,))
    _require_stage_admin(call, errors.delete_denied(entry.dn))
    if tree.user(uid, (ACTIVE, PRESERVED)) is not None:
        raise errors.DuplicateEntry(f'active user with name "{uid}" already exists')
    if tree.group(uid) is not None:
        raise errors.ManagedGroupExistsError(group=uid)
    if entry.first("ipauniqueid") == "autogenerate":
        tree.directory.replace(entry.dn, {"ipaUniqueID": [unique_id()]})
    dn = tree.directory.move(entry.dn, tree.container(ACTIVE))
    activate(tree, dn, uid)
    view = user_view(tree, tree.directory.get(dn), call.options, written=True)
    return {"result": view, "value": uid, "summary": f"Stage user {uid} activated"}
