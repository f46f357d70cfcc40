"""Entries rendered as FreeIPA returns them: lists of strings, booleans, member_* lists."""

from __future__ import annotations

from typing import Any

from .encoding import base64_value, datetime_value
from .store import BINARY_ATTRIBUTES, Entry
from .tree import ACTIVE, PRESERVED, STAGED, Tree

DATETIME_ATTRIBUTES = frozenset({"krbpasswordexpiration", "krblastpwdchange"})
SECRET_ATTRIBUTES = frozenset({"userpassword", "krbprincipalkey", "nsaccountlock", "memberof"})
# FreeIPA returns these only from the command that just wrote the entry.
WRITE_ONLY_ATTRIBUTES = frozenset({"krbextradata", "mepmanagedentry"})
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
        "krbprincipalname",
        "krbcanonicalname",
        "telephonenumber",
        "title",
        "ipasshpubkey",
        "ipauserauthtype",
        "description",
    }
)
GROUP_DEFAULTS = frozenset({"cn", "description", "gidnumber", "objectclass"})
# The attributes of an entry the caller may read (access.Access.readable); None: all of them.
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


def _members_shown(options: dict[str, Any], find: bool) -> bool:
    return bool(options.get("all")) or not options.get("no_members", find)


def _names(dns: list[str]) -> list[str]:
    return [dn.split(",", 1)[0].split("=", 1)[1] for dn in dns]


def user_view(
    tree: Tree,
    entry: Entry,
    options: dict[str, Any],
    *,
    readable: Readable = None,
    written: bool = False,
    find: bool = False,
    added: bool = False,
) -> dict[str, Any]:
    staged = f",{tree.container(STAGED)}".lower() in entry.dn.lower()
    preserved = f",{tree.container(PRESERVED)}".lower() in entry.dn.lower()
    hide = SECRET_ATTRIBUTES | (frozenset() if written else WRITE_ONLY_ATTRIBUTES)
    view = _attributes(entry, None if options.get("all") else USER_DEFAULTS, hide, readable)
    if (not added or staged) and may_read(readable, "nsaccountlock"):
        view["nsaccountlock"] = str(entry.first("nsaccountlock", "FALSE")).upper() == "TRUE"
    if not find:
        view["has_password"] = bool(entry.get("userpassword"))
        view["has_keytab"] = bool(entry.get("userpassword"))
    if not staged and (options.get("all") or not find):
        view["preserved"] = preserved
    if "manager" in view:
        # Shown by login, not DN (baseuser.py convert_manager).
        view["manager"] = _names(view["manager"])
    members_shown = _members_shown(options, find) and may_read(readable, "memberof")
    if members_shown and not staged and not preserved:
        groups, roles = _memberships(tree, entry)
        if groups:
            view["memberof_group"] = groups
        if roles:
            view["memberof_role"] = roles
    view["dn"] = entry.dn
    return view


def _memberships(tree: Tree, entry: Entry) -> tuple[list[str], list[str]]:
    """Direct groups and roles, in the order the memberOf plugin recorded them."""
    dns = [dn for dn in entry.get("memberof")]
    if not dns:
        dns = [g.dn for g in tree.groups_with("member", entry.dn)]
        dns += [r.dn for r in tree.groups_with("member", entry.dn, "roles")]
    groups_base = tree.container("groups").lower()
    roles_base = tree.container("roles").lower()
    direct = {g.dn.lower() for g in tree.groups_with("member", entry.dn)}
    direct |= {r.dn.lower() for r in tree.groups_with("member", entry.dn, "roles")}
    groups = [dn for dn in dns if dn.lower().endswith(groups_base) and dn.lower() in direct]
    roles = [dn for dn in dns if dn.lower().endswith(roles_base) and dn.lower() in direct]
    return _names(groups), _names(roles)


def group_view(
    tree: Tree,
    entry: Entry,
    options: dict[str, Any],
    *,
    readable: Readable = None,
    find: bool = False,
) -> dict[str, Any]:
    keep = None if options.get("all") else GROUP_DEFAULTS
    view = _attributes(
        entry, keep, frozenset({"member", "membermanager", "memberof", "mepmanagedby"}), readable
    )
    if _members_shown(options, find):
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
