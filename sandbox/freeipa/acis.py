"""Each permission's ACI, in the directory on the entry FreeIPA writes it to.

permission_add writes the permission's ACI on its ipapermlocation entry and permission_del
removes it (ipaserver/plugins/permission.py:554-625 make_aci, :1018-1085, :1088-1121), so any
LDAP client bound as a user meets the rules FreeIPA's framework meets. The stand-in's commands
still apply the same rules themselves (access.py), except user_add's read of the UPG Definition,
which 389-ds decides from the ACI written here.
"""

from __future__ import annotations

import ldap

from .access import permission_grant
from .store import Entry
from .tree import Tree

PERMISSION_ACI = 'acl "permission:'


def effective_attrs(entry: Entry) -> list[str]:
    """permission.py:540-552 get_effective_attrs."""
    grant = permission_grant(entry)
    return sorted(grant.attrs)


def make_aci(entry: Entry, attrs: list[str] | None = None) -> str:
    """The ACI text FreeIPA writes for a permission (permission.py:554-625); attrs, when
    given, in place of its effective attributes."""
    parts = []
    attrs = effective_attrs(entry) if attrs is None else attrs
    if attrs:
        parts.append('(targetattr = "{}")'.format(" || ".join(attrs)))
    for attribute, keyword in (
        ("ipapermtarget", "target"),
        ("ipapermtargetto", "target_to"),
        ("ipapermtargetfrom", "target_from"),
    ):
        if entry.get(attribute):
            parts.append(f'({keyword} = "ldap:///{entry.first(attribute)}")')
    filters = entry.get("ipapermtargetfilter")
    if filters:
        text = filters[0] if len(filters) == 1 else "(&{})".format("".join(sorted(filters)))
        parts.append(f'(targetfilter = "{text}")')
    bind = entry.first("ipapermbindruletype", "permission")
    rule = {
        "permission": f'groupdn = "ldap:///{entry.dn}"',
        "all": 'userdn = "ldap:///all"',
        "anonymous": 'userdn = "ldap:///anyone"',
        "self": 'userdn = "ldap:///self"',
    }[bind]
    rights = ",".join(sorted(entry.get("ipapermright")))
    name = entry.first("cn")
    parts.append(f'(version 3.0;acl "permission:{name}";allow ({rights}) {rule};)')
    return "".join(parts)


def directory_aci(entry: Entry, known: dict[str, str]) -> str | None:
    """The permission's ACI without the attribute types the schema lacks (389-ds refuses an
    ACI naming one, and no entry can hold them); None when that leaves none of several.

    Neither for bind type anonymous: the stack's directory shows anonymous clients nothing, as a
    FreeIPA with anonymous access turned off; authenticated users read those attributes through
    the stack's own read ACI (sandbox/directory.py).
    """
    if entry.first("ipapermbindruletype") == "anonymous":
        return None
    attrs = effective_attrs(entry)
    kept = [name for name in attrs if name == "*" or name.lower() in known]
    if attrs and not kept:
        return None
    return make_aci(entry, kept)


def permission_acis_sync(tree: Tree) -> None:
    """Every permission's ACI on its location entry, and no ACI of a permission that is gone."""
    known = tree.directory.attribute_names()
    wanted: dict[str, set[str]] = {}
    for entry in tree.directory.search(
        tree.container("permissions"), "(objectClass=ipaPermissionV2)"
    ):
        text = directory_aci(entry, known)
        if text is not None:
            location = str(entry.first("ipapermlocation", tree.base)).lower()
            wanted.setdefault(location, set()).add(text)
    holding = tree.directory.search(
        tree.base, "(aci=*)", scope=ldap.SCOPE_SUBTREE, attributes=("aci",)
    )
    current = {entry.dn.lower(): entry for entry in holding}
    for dn in set(wanted) | set(current):
        entry = current.get(dn) or tree.directory.get(dn)
        if entry is None:
            continue
        acis = entry.get("aci")
        others = [text for text in acis if PERMISSION_ACI not in text]
        ours = wanted.get(dn, set())
        if set(acis) != set(others) | ours:
            tree.directory.replace(entry.dn, {"aci": others + sorted(ours)})
