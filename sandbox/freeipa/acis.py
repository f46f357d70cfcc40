"""FreeIPA's ACIs in the directory, on the entries FreeIPA writes them to.

The fixed ones an install writes that concern what the stand-in keeps (install/share/
default-aci.ldif, install/updates/*.update), and each permission's: permission_add writes it on
the permission's ipapermlocation entry and permission_del removes it
(ipaserver/plugins/permission.py:554-625 make_aci, :1018-1085, :1088-1121). The stand-in's
commands write as the caller (commands.CallerWrites) and user_add reads the UPG Definition as
the caller, so 389-ds decides those from the ACIs here, as it does for FreeIPA; an LDAP client
bound as a user meets the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import ldap

from ..directory import READ_ACI_NAME
from .store import Entry
from .tree import Tree

PERMISSION_ACI = 'acl "permission:'


# Read with objectclass also reads these (permission.py:540-552 get_effective_attrs).
OPERATIONAL_WITH_OBJECTCLASS = frozenset({"entryusn", "createtimestamp", "modifytimestamp"})


def effective_attrs(entry: Entry) -> list[str]:
    """permission.py:540-552 get_effective_attrs."""
    attrs = {a.lower() for a in entry.get("ipapermdefaultattr") + entry.get("ipapermincludedattr")}
    if "read" in entry.get("ipapermright") and "objectclass" in attrs:
        attrs |= OPERATIONAL_WITH_OBJECTCLASS
    attrs -= {a.lower() for a in entry.get("ipapermexcludedattr")}
    return sorted(attrs)


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


ADMINS = "cn=admins,cn=groups,cn=accounts,{base}"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


TOKEN_BASICS = _words(
    "objectclass description managedBy ipatokenUniqueID ipatokenDisabled ipatokenNotBefore "
    "ipatokenNotAfter ipatokenVendor ipatokenModel ipatokenSerial ipatokenOwner"
)
TOKEN_WRITABLE = _words(
    "description ipatokenDisabled ipatokenNotBefore ipatokenNotAfter ipatokenVendor "
    "ipatokenModel ipatokenSerial"
)
SELF_SERVICE = _words(
    "givenname sn cn displayname title initials loginshell gecos homephone mobile pager "
    "facsimiletelephonenumber telephonenumber street roomnumber l st postalcode manager "
    "secretary description carlicense labeleduri inetuserhttpurl seealso employeetype "
    "businesscategory ou"
)
SUBID_ADMINS = "cn=Subordinate ID Administrators,cn=privileges,cn=pbac,{base}"
# 73-subid.update:68, $SUBID_COUNT being 65536 (ipalib/constants.py:366): only whole ranges,
# numbers left to DNA (-1) or given, and nothing taken away once set.
SUBID_ATTRFILTERS = (
    "add=objectClass:(|(objectClass=top)(objectClass=ipasubordinateid)"
    "(objectClass=ipasubordinateidentry)(objectClass=ipasubordinategid)"
    "(objectClass=ipasubordinateuid)) && "
    "ipasubuidnumber:(|(ipasubuidnumber>=1)(ipasubuidnumber=-1)) && "
    "ipasubuidcount:(ipasubuidcount=65536) && "
    "ipasubgidnumber:(|(ipasubgidnumber>=1)(ipasubgidnumber=-1)) && "
    "ipasubgidcount:(ipasubgidcount=65536), "
    "del=ipasubuidnumber:(!(ipasubuidnumber=*)) && ipasubuidcount:(!(ipasubuidcount=*)) && "
    "ipasubgidnumber:(!(ipasubgidnumber=*)) && ipasubgidcount:(!(ipasubgidcount=*))"
)
OWNER_OR_MANAGER = 'userattr = "ipatokenOwner#USERDN" or userattr = "managedBy#USERDN"'


@dataclass(frozen=True)
class FixedAci:
    """One ACI an install writes: on which entry (relative to the suffix), and the source."""

    location: str
    name: str
    rights: str
    bind: str
    attrs: tuple[str, ...] = ()
    target: str = ""
    targetfilter: str = ""
    source: str = ""
    deny: bool = False
    attrfilters: str = ""

    def text(self, base: str, known: dict[str, str]) -> str:
        parts = []
        if self.target:
            parts.append(f'(target = "ldap:///{self.target.format(base=base)}")')
        if self.targetfilter:
            parts.append(f'(targetfilter = "{self.targetfilter}")')
        attrs = [name for name in self.attrs if name == "*" or name.lower() in known]
        if attrs:
            parts.append('(targetattr = "{}")'.format(" || ".join(attrs)))
        if self.attrfilters:
            parts.append(f'(targattrfilters = "{self.attrfilters}")')
        bind = self.bind.format(base=base)
        verdict = "deny" if self.deny else "allow"
        parts.append(f'(version 3.0; acl "{self.name}"; {verdict} ({self.rights}) {bind};)')
        return "".join(parts)

    def dn(self, base: str) -> str:
        return f"{self.location},{base}" if self.location else base


FIXED_ACIS = (
    FixedAci(
        "", "selfservice:Self can write own password", "write", 'userdn = "ldap:///self"',
        ("userpassword", "krbprincipalkey", "sambalmpassword", "sambantpassword"),
        source="install/share/default-aci.ldif:6",
    ),
    FixedAci(
        "", "selfservice:User Self service", "write", 'userdn = "ldap:///self"',
        SELF_SERVICE, source="default-aci.ldif:11",
    ),
    FixedAci(
        "", "selfservice:Users can manage their own SSH public keys", "write",
        'userdn = "ldap:///self"', ("ipasshpubkey",), source="default-aci.ldif:12",
    ),
    FixedAci(
        "", "selfservice:Users can manage their own X.509 certificates", "write",
        'userdn = "ldap:///self"', ("usercertificate",), source="default-aci.ldif:13",
    ),
    FixedAci(
        "", "Admins can write passwords", "add, delete, write", f'groupdn = "ldap:///{ADMINS}"',
        ("userPassword", "krbPrincipalKey", "sambaLMPassword", "sambaNTPassword",
         "passwordHistory", "ipaNTHash", "krbPasswordExpiration"),
        source="install/updates/20-aci.update:71",
    ),
    FixedAci(
        "", "Admin read-only attributes", "read, search, compare", f'groupdn = "ldap:///{ADMINS}"',
        ("ipaUniqueId", "memberOf", "enrolledBy", "krbExtraData", "krbPrincipalName",
         "krbCanonicalName", "krbPasswordExpiration", "krbLastPwdChange",
         "krbLastSuccessfulAuth", "krbLastFailedAuth"),
        source="20-aci.update:74",
    ),
    FixedAci(
        "cn=staged users,cn=accounts,cn=provisioning",
        "Search existence of password and kerberos keys", "read, search",
        f'groupdn = "ldap:///{ADMINS}"', ("userPassword", "krbPrincipalKey"),
        source="install/updates/30-provisioning.update:27",
    ),
    FixedAci(
        "cn=deleted users,cn=accounts,cn=provisioning",
        "Admins allowed to reset password and kerberos keys", "read, search, write",
        f'groupdn = "ldap:///{ADMINS}"',
        ("userPassword", "krbPrincipalKey", "krbPasswordExpiration", "krbLastPwdChange"),
        source="30-provisioning.update:33",
    ),
    FixedAci(
        "cn=deleted users,cn=accounts,cn=provisioning", "No one can add entry in Delete container",
        "add", 'userdn = "ldap:///all"', ("*",), deny=True, source="30-provisioning.update:34",
    ),
    FixedAci(
        "cn=groups,cn=accounts", "Allow member managers to modify members of user groups",
        "write", 'userattr = "memberManager#USERDN" or userattr = "memberManager#GROUPDN"',
        ("member",), targetfilter="(objectclass=ipaUserGroup)",
        source="default-aci.ldif:77, 20-aci.update:145",
    ),
    FixedAci(
        "", "Users/managers can read basic token info", "read, search, compare",
        OWNER_OR_MANAGER, TOKEN_BASICS, targetfilter="(objectClass=ipaToken)",
        source="default-aci.ldif:97, install/updates/40-otp.update:21",
    ),
    FixedAci(
        "", "Users/managers can see TOTP details", "read, search, compare", OWNER_OR_MANAGER,
        ("ipatokenOTPalgorithm", "ipatokenOTPdigits", "ipatokenTOTPtimeStep"),
        targetfilter="(objectClass=ipatokenTOTP)", source="default-aci.ldif:98",
    ),
    FixedAci(
        "", "Users/managers can see HOTP details", "read, search, compare", OWNER_OR_MANAGER,
        ("ipatokenOTPalgorithm", "ipatokenOTPdigits"),
        targetfilter="(objectClass=ipatokenHOTP)", source="default-aci.ldif:99",
    ),
    FixedAci(
        "", "Managers can write basic token info", "write", 'userattr = "managedBy#USERDN"',
        TOKEN_WRITABLE, targetfilter="(objectClass=ipaToken)",
        source="default-aci.ldif:100",
    ),
    FixedAci(
        "", "Managers can delete tokens", "delete", 'userattr = "managedBy#USERDN"',
        targetfilter="(objectClass=ipaToken)", source="default-aci.ldif:101",
    ),
    FixedAci(
        "cn=subids,cn=accounts", "Add subordinate ids to any user", "add, write",
        f'groupdn = "ldap:///{SUBID_ADMINS}"', ("description", "ipaowner", "ipauniqueid"),
        targetfilter="(objectclass=ipasubordinateidentry)", attrfilters=SUBID_ATTRFILTERS,
        source="install/updates/73-subid.update:68",
    ),
    FixedAci(
        "", "Users can create self-managed tokens", "add",
        'userattr = "ipatokenOwner#SELFDN" and userattr = "managedBy#SELFDN"',
        target="ipatokenuniqueid=*,cn=otp,{base}", targetfilter="(objectClass=ipaToken)",
        source="default-aci.ldif:102",
    ),
)  # fmt: skip
FIXED_NAMES = frozenset(f'acl "{aci.name}"' for aci in FIXED_ACIS)


def _ours(text: str) -> bool:
    """FreeIPA's ACIs, and the stack's general read, which they replace (from then on 389-ds
    lets each caller read only what FreeIPA's ACIs give it)."""
    names = (*FIXED_NAMES, f'acl "{READ_ACI_NAME}"')
    return PERMISSION_ACI in text or any(name in text for name in names)


def directory_aci(entry: Entry, known: dict[str, str]) -> str | None:
    """The permission's ACI without the attribute types the schema lacks (389-ds refuses an
    ACI naming one, and no entry can hold them); None when that leaves none of several.

    Bind type anonymous is given to authenticated users only: the stack's directory shows
    anonymous clients nothing, as a FreeIPA with anonymous access turned off (there 389-ds
    refuses anonymous searches, nsslapd-allow-anonymous-access: rootdse).
    """
    attrs = effective_attrs(entry)
    kept = [name for name in attrs if name == "*" or name.lower() in known]
    if attrs and not kept:
        return None
    text = make_aci(entry, kept)
    if entry.first("ipapermbindruletype") == "anonymous":
        text = text.replace('userdn = "ldap:///anyone"', 'userdn = "ldap:///all"')
    return text


def acis_sync(tree: Tree) -> None:
    """The fixed ACIs and every permission's on their entries, and none of a permission that
    is gone; ACIs of others (the stack's own) stay."""
    known = tree.directory.attribute_names()
    wanted: dict[str, set[str]] = {}
    for fixed in FIXED_ACIS:
        wanted.setdefault(fixed.dn(tree.base).lower(), set()).add(fixed.text(tree.base, known))
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
        others = [text for text in acis if not _ours(text)]
        ours = wanted.get(dn, set())
        if set(acis) != set(others) | ours:
            tree.directory.replace(entry.dn, {"aci": others + sorted(ours)})
