"""user_* commands: active and preserved users, UPG, default group, lifecycle."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

import ldap

from .. import errors, passwords
from ..store import Entry, escape
from ..tree import (
    ACTIVE,
    ADMINS,
    DEFAULT_GROUP,
    PRESERVED,
    STAGED,
    SUBID_COUNT,
    Tree,
    unique_id,
)
from ..views import user_view
from . import Call, command

NAME_PATTERN = re.compile(r"(?!^[0-9]+$)^[a-zA-Z0-9_.][a-zA-Z0-9_.-]*[a-zA-Z0-9_.$-]?$")
NAME_RULE = (
    "may only include letters, numbers, _, -, . and $, refer to 'ipa help user' for "
    "complete format description"
)
MAX_NAME_LENGTH = 32
USER_CLASSES = [
    "top",
    "person",
    "organizationalperson",
    "inetorgperson",
    "inetuser",
    "posixaccount",
    "krbprincipalaux",
    "krbticketpolicyaux",
    "ipaobject",
    "ipasshuser",
    "ipaSshGroupOfPubKeys",
]
ACTIVE_EXTRA_CLASSES = ["mepOriginEntry", "ipantuserattrs"]
# Set on every new user (with defaults when not given); the other person options only if given.
NAMING_OPTIONS = (
    "givenname",
    "sn",
    "cn",
    "displayname",
    "initials",
    "gecos",
    "loginshell",
    "mail",
)
PERSON_OPTIONS = (
    *NAMING_OPTIONS,
    "telephonenumber",
    "mobile",
    "title",
    "street",
    "l",
    "st",
    "postalcode",
    "ipasshpubkey",
    "ipauserauthtype",
    "description",
    "employeenumber",
    "employeetype",
    "ou",
)
ADMIN_OPTIONS = ("homedirectory", "uidnumber", "gidnumber", "krbprincipalname", "nsaccountlock")


def normalize_name(value: Any, label: str = "login") -> str:
    name = str(value or "").strip().lower()
    if not NAME_PATTERN.match(name):
        raise errors.ValidationError(name=label, error=NAME_RULE)
    if len(name) > MAX_NAME_LENGTH:
        raise errors.ValidationError(
            name=label, error=f"can be at most {MAX_NAME_LENGTH} characters"
        )
    return name


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, list | tuple) else [value]
    return [str(v).upper() if isinstance(v, bool) else str(v) for v in values if v is not None]


def person_attributes(tree: Tree, uid: str, options: dict[str, Any]) -> dict[str, list]:
    """The attributes user_add and stageuser_add derive from the options."""
    for required in ("givenname", "sn"):
        if not options.get(required):
            raise errors.RequirementError(name=required)
    given, surname = str(options["givenname"]), str(options["sn"])
    full = str(options.get("cn") or f"{given} {surname}")
    attrs: dict[str, list] = {
        "uid": [uid],
        "givenName": [given],
        "sn": [surname],
        "cn": [full],
        "displayName": [str(options.get("displayname") or full)],
        "initials": [str(options.get("initials") or (given[:1] + surname[:1]))],
        "gecos": [str(options.get("gecos") or full)],
        "homeDirectory": [str(options.get("homedirectory") or f"/home/{uid}")],
        "loginShell": [str(options.get("loginshell") or "/bin/sh")],
        "mail": _listed(options.get("mail")) or [f"{uid}@{tree.domain}"],
        "krbPrincipalName": [tree.principal(uid)],
        "krbCanonicalName": [tree.principal(uid)],
    }
    for name in PERSON_OPTIONS:
        if name not in NAMING_OPTIONS and options.get(name) not in (None, "", []):
            attrs[name] = _listed(options[name])
    if "ipauserauthtype" in attrs:
        attrs["objectClass"] = ["ipaUserAuthTypeClass"]
    return attrs


def create_private_group(tree: Tree, uid: str, user_dn: str, gid: int) -> str:
    dn = tree.group_dn(uid)
    tree.directory.add(
        dn,
        {
            "objectClass": ["top", "mepManagedEntry", "posixgroup", "ipaobject"],
            "cn": [uid],
            "gidNumber": [gid],
            "description": [f"User private group for {uid}"],
            "mepManagedBy": [user_dn],
            "ipaUniqueID": [unique_id()],
        },
    )
    return dn


def activate(tree: Tree, dn: str, uid: str) -> None:
    """What the directory's plugins give every user entering cn=users: IDs, private group."""
    entry = tree.directory.get(dn)
    assert entry is not None
    changes: dict[str, list] = {}
    number = int(entry.first("uidnumber", "-1"))
    if number < 0:
        number = tree.new_id()
        changes["uidNumber"] = [number]
        changes["gidNumber"] = [number]
    gid = int(changes.get("gidNumber", [entry.first("gidnumber", number)])[0])
    if tree.group(uid) is None:
        changes["mepManagedEntry"] = [create_private_group(tree, uid, dn, gid)]
    if entry.first("ipauniqueid") in (None, "autogenerate"):
        changes["ipaUniqueID"] = [unique_id()]
    changes["ipaNTSecurityIdentifier"] = [tree.sid(number)]
    changes["nsAccountLock"] = ["FALSE"] if entry.get("nsaccountlock") else []
    if entry.first("description") == "__no_upg__":
        changes["description"] = []
    classes = {c.lower() for c in entry.get("objectclass")}
    missing = [c for c in ACTIVE_EXTRA_CLASSES if c.lower() not in classes]
    mods = [(ldap.MOD_ADD, "objectClass", missing)] if missing else []
    mods += [(ldap.MOD_REPLACE, name, values or None) for name, values in changes.items()]
    tree.directory.modify(dn, mods)


# Password hashes and keys go from entry to entry as the directory itself: 389-ds takes a
# hashed userPassword only from the root DN (nsslapd-allow-hashed-passwords).
CARRIED_AS_ROOT = ("userpassword", "krbprincipalkey")


def carry_secrets(tree: Tree, source: Entry, dn: str) -> None:
    """The source's password and keys onto dn, with the expiry 389-ds's policy knew for them."""
    secrets = {name: source.get(name) for name in CARRIED_AS_ROOT if source.get(name)}
    if not secrets:
        return
    held = tree.directory.search(
        source.dn, scope=ldap.SCOPE_BASE, attributes=("passwordExpirationTime",)
    )
    expires = held[0].first("passwordexpirationtime") if held else None
    expires = expires or source.first("krbpasswordexpiration")
    if expires:
        passwords.write_password(tree, dn, secrets, expires)
    else:
        tree.directory.replace(dn, secrets)


def join_default_group(call: Call, dn: str) -> None:
    """Add a user entering cn=users to ipausers, as the caller (user.py:678-692, 1031-1042)."""
    group = call.tree.group(DEFAULT_GROUP)
    assert group is not None
    # AlreadyGroupMember is let pass (user.py:690-692).
    with contextlib.suppress(ldap.TYPE_OR_VALUE_EXISTS):
        call.writes.modify(group.dn, [(ldap.MOD_ADD, "member", [dn])])


def visible_user(call: Call, uid: str, kinds: tuple[str, ...] = (ACTIVE,)) -> Entry:
    """The user as a search with the caller's rights finds it; NotFound otherwise."""
    entry = call.tree.user(uid, kinds)
    if not call.can_read(entry):
        raise errors.not_found(uid, "stage user" if kinds == (STAGED,) else "user")
    assert entry is not None
    return entry


def leave_groups(tree: Tree, dn: str) -> None:
    for attribute in ("member", "memberManager"):
        for group in tree.groups_with(attribute, dn) + tree.groups_with(attribute, dn, "roles"):
            tree.directory.modify(group.dn, [(ldap.MOD_DELETE, attribute, [dn])])


def drop_private_group(tree: Tree, uid: str) -> None:
    group = tree.group(uid)
    if group is not None and group.has_class("mepManagedEntry"):
        tree.directory.delete(group.dn)


def release_tokens(call: Call, dn: str, deleting: bool) -> None:
    """Tokens the user owns and manages go; tokens someone else manages lose their owner.

    FreeIPA does it as the caller (user.py:831-842: otptoken_find, otptoken_del, otptoken_mod),
    so only the tokens the caller can see are touched, each needing its own right. Of the
    others, a deletion only drops the user from managedBy (referential integrity,
    install/updates/25-referint.update:12; ipatokenOwner is not in its list).
    """
    tree = call.tree
    owned = f"(ipatokenOwner={escape(dn)})"
    seen = {t.dn.lower() for t in call.reads.search(tree.container("otp"), owned)}
    for token in tree.directory.search(tree.container("otp"), owned):
        managed = dn.lower() in {m.lower() for m in token.get("managedby")}
        if token.dn.lower() not in seen:
            if deleting and managed:
                tree.directory.modify(token.dn, [(ldap.MOD_DELETE, "managedBy", [dn])])
        elif managed:
            call.writes.delete(token.dn)
        else:
            call.writes.modify(token.dn, [(ldap.MOD_DELETE, "ipatokenOwner", None)])


def may_write(call: Call, entry: Entry, attribute: str) -> bool:
    """Whether 389-ds lets the caller write attribute of entry (its effective rights)."""
    rights = call.tree.directory.rights_as(call.caller.dn, entry.dn, (attribute,)) or {}
    return "w" in rights.get(attribute.lower(), "")


SUBID_CLASSES = [
    "ipasubordinateidentry",
    "ipasubordinategid",
    "ipasubordinateuid",
    "ipasubordinateid",
    "top",
]


def generate_subids(call: Call, owner_dn: str) -> str:
    """Subordinate ids for a new user, as the caller (user.py:717-729 -> subid.py:481-494
    subid_generate -> subid_add, an LDAPCreate); the user stays added when this is refused."""
    tree = call.tree
    key = str(uuid.uuid4())
    dn = f"ipauniqueid={key},{tree.container('subids')}"
    # subid.py:275-311 handle_subordinate_ids: DNA's magic -1 for both, whole ranges.
    call.writes.add(
        dn,
        {
            "objectClass": SUBID_CLASSES,
            "ipaUniqueID": [key],
            "description": ["auto-assigned subid"],
            "ipaOwner": [owner_dn],
            "ipaSubUidNumber": [-1],
            "ipaSubUidCount": [SUBID_COUNT],
            "ipaSubGidNumber": [-1],
            "ipaSubGidCount": [SUBID_COUNT],
        },
    )
    start = tree.new_subid_start()
    tree.directory.replace(dn, {"ipaSubUidNumber": [start], "ipaSubGidNumber": [start]})
    # baseldap.py:1317-1332: the new entry is read back as the caller.
    if call.reads.get(dn) is None:
        raise errors.not_found(key, "Subordinate id")
    return key


def remove_subids(call: Call, owner_dn: str) -> None:
    """user.py:843-851: the user's subordinate ids the caller finds are deleted as the caller."""
    tree = call.tree
    owned = f"(&(objectClass=ipasubordinateidentry)(ipaOwner={escape(owner_dn)}))"
    for subid in call.reads.search(tree.container("subids"), owned):
        call.writes.delete(subid.dn)


UPG_UNREADABLE = "Could not read UPG Definition originfilter. Check your permissions."


def has_upg(call: Call) -> bool:
    """Whether user private groups are on, read as the caller (ldap2.py:252-284 has_upg).

    389-ds decides: only "System: Read UPG Definition" (user.py:262-271) lets a non-admin read it.
    """
    entry = call.tree.directory.read_as(call.caller.dn, call.tree.upg_definition_dn)
    origin = entry.first("originfilter") if entry is not None else None
    if origin is None:
        raise errors.ACIError(info=UPG_UNREADABLE)
    return "(objectclass=disable)" not in origin.lower()


def default_group_gid(tree: Tree) -> int:
    """A user without a private group gets the default group's gidNumber (user.py:611-629)."""
    group = tree.group(DEFAULT_GROUP)
    if group is None:
        raise errors.NotFound(reason="Default group for new users not found")
    if not group.get("gidnumber"):
        raise errors.NotFound(reason="Default group for new users is not POSIX")
    return int(group.first("gidnumber"))


def manager_dn(tree: Tree, uid: Any) -> str:
    """An active user named as manager (baseuser.py:547-570 normalize_manager)."""
    entry = tree.user(str(uid).lower())
    if entry is None:
        raise errors.NotFound(reason=f"manager {uid} not found")
    return entry.dn


@command(
    "user_add",
    PERSON_OPTIONS + ADMIN_OPTIONS[:-1] + ("userpassword", "random", "noprivate", "manager"),
)
def user_add(call: Call) -> dict[str, Any]:
    tree = call.tree
    uid = normalize_name(call.arg())
    dn = tree.user_dn(uid)
    attrs = person_attributes(tree, uid, call.options)
    classes = USER_CLASSES + ACTIVE_EXTRA_CLASSES + attrs.pop("objectClass", [])
    duplicate = errors.DuplicateEntry(f'user with name "{uid}" already exists')
    # user.py:548-554: a preserved user of that name first, then the UPG read (:556).
    if tree.user(uid, (PRESERVED,)) is not None:
        raise duplicate
    private = not call.flag("noprivate") and has_upg(call)
    if private and tree.group(uid) is not None:
        # user.py:557-567: a group of that name is the user's own when the user exists.
        if tree.user(uid) is not None:
            raise duplicate
        raise errors.ManagedGroupExistsError(group=uid)
    if call.options.get("manager"):
        attrs["manager"] = [manager_dn(tree, call.options["manager"])]
    gid = int(call.options.get("gidnumber") or 0) or (0 if private else default_group_gid(tree))
    number = int(call.options.get("uidnumber") or 0)
    number = number if number not in (0, 999) else tree.new_id()
    gid = gid or number
    # DNA, uuid and sidgen fill these in as the directory itself; the add is the caller's.
    attrs.update(
        objectClass=classes,
        uidNumber=[number],
        gidNumber=[gid],
        ipaUniqueID=[unique_id()],
        ipaNTSecurityIdentifier=[tree.sid(number)],
    )
    try:
        # 389-ds checks the add right before it looks for the entry (ldbm_add.c:477-483).
        call.writes.add(dn, attrs)
    except ldap.ALREADY_EXISTS:
        raise duplicate from None
    if private:
        group_dn = create_private_group(tree, uid, dn, gid)
        tree.directory.replace(dn, {"mepManagedEntry": [group_dn]})
    result: dict[str, Any] = {}
    password = call.options.get("userpassword")
    if call.flag("random"):
        password = passwords.random_password()
        result["randompassword"] = password
    if password:
        passwords.set_by_admin(tree, dn, str(password), by=call.caller.dn)
    join_default_group(call, dn)
    subid = generate_subids(call, dn) if tree.subids_for_new_users() else None
    entry = tree.directory.get(dn)
    view = user_view(tree, entry, call.options, readable=call.readable(entry), added=True)
    if subid is not None:
        # user.py:729: the new subordinate id joins what the user is a member of.
        view["memberof_subid"] = [subid]
    return {"result": {**view, **result}, "value": uid, "summary": f'Added user "{uid}"'}


@command("user_show", ("out",))
def user_show(call: Call) -> dict[str, Any]:
    uid = normalize_name(call.arg())
    entry = visible_user(call, uid, (ACTIVE, PRESERVED))
    view = user_view(call.tree, entry, call.options, readable=call.readable(entry))
    return {"result": view, "value": uid, "summary": None}


@command(
    "user_find",
    (
        *PERSON_OPTIONS,
        "uid",
        "uidnumber",
        "gidnumber",
        "whoami",
        "preserved",
        "nsaccountlock",
        "in_group",
        "not_in_group",
        "homedirectory",
        "krbprincipalname",
    ),
    find=True,
)
def user_find(call: Call) -> dict[str, Any]:
    tree = call.tree
    options = call.options
    if call.flag("whoami"):
        # user.py:937-944: the caller's own entry, read as the caller.
        entries = call.reads.search(call.caller.dn, USER_CLASS_FILTER, scope=ldap.SCOPE_BASE)
    else:
        kind = PRESERVED if call.flag("preserved") else ACTIVE
        # One search as the caller (baseldap.py LDAPSearch.execute): 389-ds leaves out what the
        # caller may not read, and entries matched on an attribute it may not search.
        entries = call.reads.search(tree.container(kind), user_filter(call.arg(), options, tree))
    return find_result(
        call,
        entries,
        "user",
        "users",
        lambda e: user_view(
            tree, e, options, readable=frozenset(e.attrs), find=True, asked=searched(options)
        ),
    )


SEARCHABLE = (*PERSON_OPTIONS, "uid", "uidnumber", "gidnumber", "homedirectory", "krbprincipalname")


def searched(options: dict[str, Any]) -> frozenset[str]:
    """The attributes a find searched on, which it also shows (baseldap.py:2136-2146)."""
    return frozenset(name for name in SEARCHABLE if options.get(name) not in (None, ""))


USER_CLASS_FILTER = "(objectClass=posixaccount)"


def user_filter(criteria: Any, options: dict[str, Any], tree: Tree | None = None) -> str:
    parts = [USER_CLASS_FILTER]
    if criteria:
        term = escape(str(criteria))
        parts.append(
            f"(|(uid=*{term}*)(givenName=*{term}*)(sn=*{term}*)(cn=*{term}*)(mail=*{term}*))"
        )
    for name in (
        "uid",
        "givenname",
        "sn",
        "cn",
        "mail",
        "uidnumber",
        "gidnumber",
        "krbprincipalname",
    ):
        if options.get(name) not in (None, ""):
            parts.append(f"({name}={escape(str(options[name]))})")
    if "nsaccountlock" in options:
        locked = "(nsAccountLock=TRUE)"
        parts.append(locked if _true(options["nsaccountlock"]) else f"(!{locked})")
    if tree is not None:
        # baseldap.py:2086-2108 get_member_filter: in_group is a memberOf filter.
        groups = [
            f"(memberOf={escape(tree.group_dn(g.lower()))})"
            for g in _listed(options.get("in_group"))
        ]
        groups += [
            f"(!(memberOf={escape(tree.group_dn(g.lower()))}))"
            for g in _listed(options.get("not_in_group"))
        ]
        parts += groups
    return "(&" + "".join(parts) + ")"


def _true(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes")
    return bool(value)


def find_result(call: Call, entries: list[Entry], one: str, many: str, render) -> dict[str, Any]:
    entries = sorted(entries, key=lambda e: e.dn.split(",", 1)[0].lower())
    limit = int(call.options.get("sizelimit") or 0)
    truncated = bool(limit) and len(entries) > limit
    entries = entries[:limit] if truncated else entries
    if call.flag("pkey_only"):
        results = [
            {"dn": e.dn, e.dn.split("=", 1)[0]: [e.dn.split(",", 1)[0].split("=", 1)[1]]}
            for e in entries
        ]
    else:
        results = [render(e) for e in entries]
    noun = one if len(results) == 1 else many
    return {
        "result": results,
        "count": len(results),
        "truncated": truncated,
        "summary": f"{len(results)} {noun} matched",
    }


@command(
    "user_mod",
    PERSON_OPTIONS + ADMIN_OPTIONS + ("userpassword", "random", "setattr", "addattr", "delattr"),
)
def user_mod(call: Call) -> dict[str, Any]:
    tree = call.tree
    uid = normalize_name(call.arg())
    entry = visible_user(call, uid)
    changes: dict[str, list] = {}
    for name in PERSON_OPTIONS + ADMIN_OPTIONS:
        if name in call.options:
            values = _listed(call.options[name])
            if sorted(values) != sorted(entry.get(name)):
                changes[name] = values
    password = call.options.get("userpassword")
    random_password = passwords.random_password() if call.flag("random") else None
    if not changes and not password and not random_password:
        raise errors.EmptyModlist()
    if "nsaccountlock" in changes and uid == "admin":
        raise errors.LastMemberError(key=uid, label="group", container=ADMINS)
    # baseldap.py:1568-1577: one modify, as the caller; a new authentication type brings its
    # object class in the same modify (baseuser.py pre_common_callback).
    mods = [(ldap.MOD_REPLACE, name, values or None) for name, values in changes.items()]
    if "ipauserauthtype" in changes and not entry.has_class("ipaUserAuthTypeClass"):
        mods.insert(0, (ldap.MOD_ADD, "objectClass", ["ipaUserAuthTypeClass"]))
    if (password or random_password) and not may_write(call, entry, "userPassword"):
        # baseldap.py:1568-1577: FreeIPA writes it in the caller's modify, which 389-ds
        # refuses without write on userPassword; the stand-in's password code then stores it.
        raise errors.write_denied(tree.attribute_name("userpassword"), entry.dn)
    if mods:
        call.writes.modify(entry.dn, mods)
    if password or random_password:
        passwords.set_by_admin(tree, entry.dn, str(password or random_password), by=call.caller.dn)
    entry = tree.directory.get(entry.dn)
    view = user_view(
        tree,
        entry,
        call.options,
        readable=call.readable(entry),
        updated=True,
        asked=frozenset(changes),
    )
    if random_password:
        view["randompassword"] = random_password
    return {"result": view, "value": uid, "summary": f'Modified user "{uid}"'}


def _set_lock(call: Call, locked: bool) -> dict[str, Any]:
    uid = normalize_name(call.arg())
    entry = visible_user(call, uid)
    if locked:
        _check_last_admin(call, entry)
    is_locked = entry.first("nsaccountlock", "FALSE").upper() == "TRUE"
    if locked and is_locked:
        raise errors.AlreadyInactive()
    if not locked and not is_locked:
        raise errors.AlreadyActive()
    # ldap2.py:463-489: the state is read first, so a repeat is refused before any ACI.
    call.writes.replace(entry.dn, {"nsAccountLock": ["TRUE" if locked else "FALSE"]})
    verb = "Disabled" if locked else "Enabled"
    return {"result": True, "value": uid, "summary": f'{verb} user account "{uid}"'}


def _check_last_admin(call: Call, entry: Entry) -> None:
    """The last enabled member of admins may be neither disabled nor deleted (user.py:160-175)."""
    if not call.tree.is_admin(entry.dn):
        return
    enabled_admins = [
        dn
        for dn in call.tree.require_group(ADMINS).get("member")
        if (u := call.tree.directory.get(dn))
        and u.first("nsaccountlock", "FALSE").upper() != "TRUE"
    ]
    if len(enabled_admins) <= 1:
        raise errors.LastMemberError(key=entry.first("uid"), label="group", container=ADMINS)


@command("user_disable")
def user_disable(call: Call) -> dict[str, Any]:
    return _set_lock(call, True)


@command("user_enable")
def user_enable(call: Call) -> dict[str, Any]:
    return _set_lock(call, False)


@command("user_del", ("preserve", "continue"))
def user_del(call: Call) -> dict[str, Any]:
    uids = [normalize_name(u) for u in _listed(call.arg())]
    preserve = call.flag("preserve")
    done, failed = [], []
    for uid in uids:
        try:
            _delete_one(call, uid, preserve)
            done.append(uid)
        except errors.PublicError:
            if not call.flag("continue"):
                raise
            failed.append(uid)
    verb = "Preserved" if preserve else "Deleted"
    return {
        "result": {"failed": failed},
        "value": done,
        "summary": f'{verb} user "{",".join(done)}"',
    }


PRESERVE_CLEARS = ("krbPrincipalKey", "krbLastPwdChange", "krbPasswordExpiration", "userPassword")


def _delete_one(call: Call, uid: str, preserve: bool) -> None:
    """user.py:750-853, in FreeIPA's order: checks, the user's tokens, then the entry."""
    tree = call.tree
    entry = visible_user(call, uid, (ACTIVE, PRESERVED))
    preserved = entry.dn.lower() == tree.user_dn(uid, PRESERVED).lower()
    if preserve and preserved:
        raise errors.ExecutionError(f"{uid}: user is already preserved")
    if uid == "admin":
        raise errors.ProtectedEntryError(label="user", key=uid, reason="privileged user")
    _check_last_admin(call, entry)
    if preserved:
        call.writes.delete(entry.dn)
        return
    if not preserve:
        release_tokens(call, entry.dn, deleting=True)
        remove_subids(call, entry.dn)
        call.writes.delete(entry.dn)
        # Referential integrity and managed entries, as the directory itself.
        leave_groups(tree, entry.dn)
        drop_private_group(tree, uid)
        return
    release_tokens(call, entry.dn, deleting=False)
    remove_subids(call, entry.dn)
    # Moved first, then cleared (user.py:773-790): a refusal here leaves it moved. The move is
    # the caller's (moddn on the new parent, then write on the RDN, back-ldbm/ldbm_modrdn.c);
    # the groups and the private group follow as the directory itself.
    moved_dn = call.writes.move(entry.dn, tree.container(PRESERVED))
    # user.py:777-790: the moved entry is read back as the caller, so only the credentials it
    # may read are cleared; a caller who cannot find it there (no search right on
    # objectClass) gets NotFound, the user moved and nothing cleared.
    seen = call.reads.get(moved_dn, PRESERVE_CLEARS)
    if seen is None:
        raise errors.not_found(uid, "user")
    cleared = {name: None for name in PRESERVE_CLEARS if seen.get(name)}
    moved = Entry(moved_dn, entry.attrs)
    # memberOf follows the move into the groups; the memberships are lost on preserve.
    leave_groups(tree, moved.dn)
    drop_private_group(tree, uid)
    if entry.get("mepManagedEntry"):
        tree.directory.replace(moved.dn, {"mepManagedEntry": None})
    if cleared:
        call.writes.replace(moved.dn, cleared)
    if "krbPasswordExpiration" in cleared:
        # Its copy for 389-ds's password policy (operational, so not in `entry`).
        tree.directory.replace(moved.dn, {"passwordExpirationTime": None})


@command("user_undel")
def user_undel(call: Call) -> dict[str, Any]:
    tree = call.tree
    uid = normalize_name(call.arg())
    entry = visible_user(call, uid, (ACTIVE, PRESERVED))
    if entry.dn.lower() == tree.user_dn(uid).lower():
        raise errors.InvocationError(f'user "{uid}" is already active')
    dn = call.writes.move(entry.dn, tree.container(ACTIVE))
    activate(tree, dn, uid)
    join_default_group(call, dn)
    return {"result": True, "value": uid, "summary": f'Undeleted user account "{uid}"'}


@command("user_stage", ("continue",))
def user_stage(call: Call) -> dict[str, Any]:
    tree = call.tree
    uid = normalize_name(call.arg())
    entry = visible_user(call, uid, (PRESERVED,))
    # user.py:1075-1150: stageuser_add of what the preserved entry holds, then user_del of it,
    # both as the caller. Only an ExecutionError of user_del makes it delete the stage user
    # again (:1139-1143): after a refused delete (2100) both entries stay.
    attrs = {k: v for k, v in entry.attrs.items() if k not in CARRIED_AS_ROOT}
    attrs["nsaccountlock"] = ["TRUE"]
    staged = tree.user_dn(uid, STAGED)
    try:
        call.writes.add(staged, attrs)
    except ldap.ALREADY_EXISTS:
        raise errors.DuplicateEntry(f'stage user with name "{uid}" already exists') from None
    carry_secrets(tree, entry, staged)
    call.writes.delete(entry.dn)
    return {"result": {"failed": []}, "value": [uid], "summary": f'Staged user account "{uid}"'}


# passwd.py:71-84: what the client sends as current password when changing someone else's.
OTHER_USER_PASSWORD = "CHANGING_PASSWORD_FOR_ANOTHER_USER"


@command("passwd", ("otp",))
def passwd(call: Call) -> dict[str, Any]:
    """passwd.py:86-152: set a password through the password extended operation."""
    tree = call.tree
    principal = str(call.arg(0) or call.caller.first("krbprincipalname"))
    if "@" not in principal:
        principal = tree.principal(principal.lower())
    password = call.arg(1)
    if not password:
        raise errors.RequirementError(name="password")
    wanted = f"(&(krbPrincipalName={escape(principal)})(objectClass=posixaccount))"
    # passwd.py:122-133: the principal is looked up as the caller.
    entries = call.reads.search(tree.container(ACTIVE), wanted)
    if not entries:
        raise errors.NotFound(reason="no matching entry found")
    entry = entries[0]
    current = call.arg(2)
    if entry.dn.lower() != call.caller.dn.lower():
        # ipa_pwd_extop.c:501-556: 389-ds is asked for write on userPassword and
        # krbPrincipalKey (slapi_access_allowed), else err=50.
        if not all(may_write(call, entry, name) for name in ("userPassword", "krbPrincipalKey")):
            raise errors.ACIError(info="Insufficient access rights")
        passwords.set_by_admin(tree, entry.dn, str(password), by=call.caller.dn)
    else:
        if not current:
            raise errors.RequirementError(name="current_password")
        if current == OTHER_USER_PASSWORD:
            raise errors.ACIError(info="Invalid credentials")
        secret = str(current) + str(call.options.get("otp") or "")
        if not passwords.check_login(tree, entry, secret):
            raise errors.ACIError(info="Invalid credentials")
        try:
            passwords.set_by_self(tree, entry, str(password))
        except passwords.PolicyError as error:
            desc, _, info = str(error).partition(": ")
            raise errors.DatabaseError(desc=desc, info=info) from error
    return {"result": True, "value": principal, "summary": f'Changed password for "{principal}"'}
