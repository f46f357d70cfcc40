"""Entries rendered as FreeIPA returns them: lists of strings, booleans, member_* lists."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .encoding import base64_value, datetime_value
from .store import BINARY_ATTRIBUTES, Entry
from .tree import ACTIVE, PRESERVED, STAGED, Tree

DATETIME_ATTRIBUTES = frozenset({"krbpasswordexpiration", "krblastpwdchange"})
SECRET_ATTRIBUTES = frozenset({"userpassword", "krbprincipalkey", "nsaccountlock", "memberof"})
# What user_show, user_add and user_mod read without `all` (baseuser.py:235-247); memberof and
# nsaccountlock are rendered apart.
USER_DEFAULTS = frozenset(
    {
        "uid",
        "givenname",
        "sn",
        "homedirectory",
        "loginshell",
        "uidnumber",
        "gidnumber",
        "mail",
        "ou",
        "telephonenumber",
        "title",
        "ipauserauthtype",
        "userclass",
        "ipatokenradiusconfiglink",
        "ipatokenradiususername",
        "ipaidpconfiglink",
        "ipaidpsub",
        "krbprincipalexpiration",
        "usercertificate;binary",
        "krbprincipalname",
        "krbcanonicalname",
        "ipacertmapdata",
        "ipantlogonscript",
        "ipantprofilepath",
        "ipanthomedirectory",
        "ipanthomedirectorydrive",
        "ipapasskey",
    }
)
# What user_find reads without `all` (baseuser.py:248-252 search_display_attributes).
USER_FIND_DEFAULTS = frozenset(
    {
        "uid",
        "givenname",
        "sn",
        "homedirectory",
        "krbcanonicalname",
        "krbprincipalname",
        "loginshell",
        "mail",
        "telephonenumber",
        "title",
        "uidnumber",
        "gidnumber",
    }
)
# group.py:212-216; group_add also reads back what it wrote (baseldap.py:1280-1287).
GROUP_DEFAULTS = frozenset({"cn", "description", "gidnumber"})
GROUP_ADD_READ_BACK = frozenset({"objectclass", "ipauniqueid"})
# The attributes of an entry the caller read (Call.readable); None: all of them.
Readable = frozenset[str] | None


def _values(name: str, values: list) -> list:
    if name in BINARY_ATTRIBUTES:
        return [base64_value(v) for v in values]
    if name in DATETIME_ATTRIBUTES:
        return [datetime_value(v) for v in values]
    return list(values)


def _attributes(
    entry: Entry, keep: frozenset[str] | None, hide: frozenset[str], readable: Readable = None
) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, values in entry.attrs.items():
        if name in hide or (keep is not None and name not in keep):
            continue
        if not may_read(readable, name):
            continue
        shown[name] = _values(name, values)
    return shown


def may_read(readable: Readable, name: str) -> bool:
    return readable is None or name in readable


def _members_shown(options: dict[str, Any]) -> bool:
    # baseldap.py:1280-1287: without `all`, no_members drops memberof from what is read.
    return bool(options.get("all")) or not options.get("no_members", False)


def _names(dns: list[str]) -> list[str]:
    return [dn.split(",", 1)[0].split("=", 1)[1] for dn in dns]


def user_view(
    tree: Tree,
    entry: Entry,
    options: dict[str, Any],
    *,
    readable: Readable = None,
    find: bool = False,
    added: bool = False,
    updated: bool = False,
    asked: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The entry as user_show, user_find, user_add, user_mod (and their stage twins) return it.

    asked: the attributes the command also reads without `all` (the ones user_mod changed,
    the ones user_find filtered on; baseldap.py:1513-1520, 2139-2146).
    """
    staged = f",{tree.container(STAGED)}".lower() in entry.dn.lower()
    preserved = f",{tree.container(PRESERVED)}".lower() in entry.dn.lower()
    show_all = bool(options.get("all"))
    # user.py:697-717, stageuser.py:421-427: an add reads the whole entry ('*') back.
    everything = show_all or added
    keep = None if everything else (USER_FIND_DEFAULTS if find else USER_DEFAULTS) | asked
    view = _attributes(entry, keep, SECRET_ATTRIBUTES, readable)
    if added and not staged:
        # user.py:707-708: user_add drops the SID sidgen gave it.
        view.pop("ipantsecurityidentifier", None)
    if not added or staged:
        # baseuser.py:109-114 convert_nsaccountlock: False also when the caller cannot read it.
        locked = str(entry.first("nsaccountlock", "FALSE")).upper() == "TRUE"
        view["nsaccountlock"] = locked and may_read(readable, "nsaccountlock")
    if not find:
        view["has_password"] = bool(entry.get("userpassword"))
        view["has_keytab"] = bool(entry.get("userpassword"))
    if not staged and not options.get("raw"):
        # user.py:514-521: True for a preserved user, False only with `all`.
        if preserved:
            view["preserved"] = True
        elif show_all:
            view["preserved"] = False
    if may_read(readable, "ipasshpubkey"):
        # baseuser.py:836-842, :878-886, ipalib/util.py:525-550: the keys are always read to
        # show their fingerprints, and left out again unless asked for.
        fingerprints = ssh_fingerprints(entry.get("ipasshpubkey"))
        if fingerprints:
            view["sshpubkeyfp"] = fingerprints
    if "manager" in view:
        # Shown by login, not DN (baseuser.py convert_manager).
        view["manager"] = _names(view["manager"])
    if not staged and not preserved and may_read(readable, "memberof"):
        view.update(_user_memberships(tree, entry, options, find=find, added=added))
    if show_all or not updated:
        # baseldap.py:1605: user_mod gives the DN only with `all` (entry_to_dict, :273-274).
        view["dn"] = entry.dn
    return view


def ssh_fingerprints(keys: list) -> list[str]:
    """ipalib/util.py:525-550 convert_sshpubkey_post: `SHA256:<digest> <comment> (<type>)`,
    the digest as OpenSSH prints it (ipapython/ssh.py:207-210); keys that do not parse are
    skipped."""
    fingerprints = []
    for key in keys:
        parts = str(key).split()
        if len(parts) < 2:
            continue
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except ValueError:
            continue
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        comment = " ".join(parts[2:])
        shown = f"SHA256:{digest} {comment}" if comment else f"SHA256:{digest}"
        fingerprints.append(f"{shown} ({parts[0]})")
    return fingerprints


def _user_memberships(
    tree: Tree, entry: Entry, options: dict[str, Any], *, find: bool, added: bool
) -> dict[str, list[str]]:
    """memberof_* and memberofindirect_*, as each command reads them.

    user_find reads memberof only with `all` and never splits off the indirect ones
    (search_display_attributes lacks memberofindirect, baseldap.py:2186-2189); user_add's
    second read ('*', user.py:697) brings back every memberOf value whatever no_members says;
    the others split direct from indirect (baseldap.py:800-830 get_memberofindirect).
    """
    if find:
        if not options.get("all"):
            return {}
        direct, indirect = _memberof(tree, entry), []
    elif added:
        direct, indirect = _memberof(tree, entry), []
    elif _members_shown(options):
        everything = _memberof(tree, entry)
        member_of = {dn.lower() for dn in _direct_parents(tree, entry)}
        direct = [dn for dn in everything if dn.lower() in member_of]
        indirect = [dn for dn in everything if dn.lower() not in member_of]
    else:
        return {}
    shown: dict[str, list[str]] = {}
    for prefix, dns in (("memberof", direct), ("memberofindirect", indirect)):
        for kind, container in (("group", "groups"), ("role", "roles")):
            base = tree.container(container).lower()
            names = _names([dn for dn in dns if dn.lower().endswith(base)])
            if names:
                shown[f"{prefix}_{kind}"] = names
    return shown


def _direct_parents(tree: Tree, entry: Entry) -> list[str]:
    parents = tree.groups_with("member", entry.dn) + tree.groups_with("member", entry.dn, "roles")
    return [p.dn for p in parents]


def _memberof(tree: Tree, entry: Entry) -> list[str]:
    """Every group and role the entry is in, directly or not, in the memberOf plugin's order."""
    dns = list(entry.get("memberof"))
    return dns or _direct_parents(tree, entry)


def group_view(
    tree: Tree,
    entry: Entry,
    options: dict[str, Any],
    *,
    readable: Readable = None,
    find: bool = False,
    added: bool = False,
    updated: bool = False,
) -> dict[str, Any]:
    show_all = bool(options.get("all"))
    keep = None if show_all else GROUP_DEFAULTS | (GROUP_ADD_READ_BACK if added else frozenset())
    view = _attributes(
        entry, keep, frozenset({"member", "membermanager", "memberof", "mepmanagedby"}), readable
    )
    # Find commands default to no_members (baseldap.py:2033-2040).
    if show_all or not options.get("no_members", find):
        users_base = tree.container(ACTIVE).lower()
        for attribute in ("member", "membermanager"):
            if not may_read(readable, attribute):
                continue
            dns = entry.get(attribute)
            users = [dn for dn in dns if dn.lower().endswith(users_base)]
            groups = [dn for dn in dns if dn.lower().endswith(tree.container("groups").lower())]
            if users:
                view[f"{attribute}_user"] = sorted(_names(users))
            if groups:
                view[f"{attribute}_group"] = sorted(_names(groups))
    if not find and not added and may_read(readable, "memberof"):
        # group.py:218-225 attribute_members: a group in groups shows them, direct and not
        # (baseldap.py:800-830 get_memberofindirect).
        view.update(_user_memberships(tree, entry, options, find=False, added=False))
    if show_all or not updated:
        view["dn"] = entry.dn
    return view


def token_view(
    tree: Tree, entry: Entry, options: dict[str, Any], *, readable: Readable
) -> dict[str, Any]:
    hide = frozenset({"managedby", "ipatokenowner", "ipatokendisabled"})
    view = _attributes(entry, None, hide, readable)
    owner = entry.first("ipatokenowner")
    if owner and may_read(readable, "ipatokenowner"):
        view["ipatokenowner"] = _names([owner])
    if entry.get("ipatokendisabled") and may_read(readable, "ipatokendisabled"):
        view["ipatokendisabled"] = [entry.first("ipatokendisabled").upper() == "TRUE"]
    managers = entry.get("managedby")
    if managers and may_read(readable, "managedby"):
        view["managedby_user"] = _names(managers)
    view["type"] = "TOTP" if entry.has_class("ipatokentotp") else "HOTP"
    view["dn"] = entry.dn
    return view
