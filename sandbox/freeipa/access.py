"""Who may do what: FreeIPA's access control, as the stand-in applies it where 389-ds cannot.

FreeIPA's commands run with the caller's own LDAP bind and leave every decision to 389-ds: a
refused write comes back as 2100 ACIError with 389-ds's text (ipapython/ipaldap.py:1121-1122,
389-ds acl/aclutil.c:437-453 acl_gen_err_msg), an entry the caller may not read is simply not
found. The stand-in sends most writes to 389-ds as the caller (commands.CallerWrites), where
FreeIPA's ACIs are (acis.py). This module applies the same rules itself for what 389-ds cannot
decide there:

- what a caller may read: the stack's directory lets every authenticated user read nearly
  everything, so searches and shows filter their answers here;
- the few writes the stand-in makes as Directory Manager after checking them here (NEEDS).

The rules: the fixed ACIs FreeIPA installs for self-service, OTP tokens and group member
managers (`_fixed`, from install/share/default-aci.ldif and install/updates/20-aci.update);
one ACI per permission entry under cn=permissions,cn=pbac (ipaserver/plugins/permission.py:
554-625 make_aci): its rights, on the entries under its location that match its target and
filters, on its attributes; bind rule type `permission` means "held through role ->
privilege -> permission", `all`/`anonymous` everybody, `self` one's own entry; members of
`admins` may do everything ("Admin can manage any entry" and "Admins can write passwords",
install/updates/20-aci.update:67 and :71).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from . import errors
from .store import Entry, escape

if TYPE_CHECKING:
    from .tree import Tree

# An ACI's `all` (389-ds slapi-plugin.h SLAPI_ACL_ALL 0x087f) covers moddn too, not proxy.
ALL_RIGHTS = frozenset({"read", "search", "compare", "write", "add", "delete", "moddn"})
# Rights that need no targetattr (389-ds acl/acl.c:2150 ACL_RIGHTS_TARGETATTR_NOT_NEEDED).
ENTRY_RIGHTS = frozenset({"add", "delete", "moddn"})
# Read with objectclass also reads these (permission.py:540-552 get_effective_attrs).
OPERATIONAL_WITH_OBJECTCLASS = frozenset({"entryusn", "createtimestamp", "modifytimestamp"})
USERDN, GROUPDN, SELFDN = "USERDN", "GROUPDN", "SELFDN"


def norm_dn(dn: str) -> str:
    return ",".join(part.strip() for part in str(dn).split(",")).lower()


def under(dn: str, base: str) -> bool:
    """Whether normalized dn is base or below it."""
    return dn == base or dn.endswith("," + base)


@dataclass(frozen=True)
class Grant:
    """One ACI: which rights, on which entries and attributes, for whom."""

    name: str
    rights: frozenset[str]
    bind: str = "permission"  # permission | all | anonymous | self | userattr
    location: str = ""
    target: str = ""
    target_from: str = ""
    target_to: str = ""
    filters: tuple[str, ...] = ()
    attrs: frozenset[str] = frozenset()
    # userattr bind rules: (attribute, USERDN | GROUPDN | SELFDN), any of them (or all).
    userattrs: tuple[tuple[str, str], ...] = ()
    all_userattrs: bool = False
    dn: str = ""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _fixed(base: str) -> tuple[Grant, ...]:
    suffix = norm_dn(base)
    token = "(objectclass=ipatoken)"
    owner_or_manager = (("ipatokenowner", USERDN), ("managedby", USERDN))
    basic_token = (
        "objectclass description managedby ipatokenuniqueid ipatokendisabled ipatokennotbefore "
        "ipatokennotafter ipatokenvendor ipatokenmodel ipatokenserial ipatokenowner"
    )
    token_writable = (
        "description ipatokendisabled ipatokennotbefore ipatokennotafter ipatokenvendor "
        "ipatokenmodel ipatokenserial"
    )
    self_service = (
        "givenname sn cn displayname title initials loginshell gecos homephone mobile pager "
        "facsimiletelephonenumber telephonenumber street roomnumber l st postalcode manager "
        "secretary description carlicense labeleduri inetuserhttpurl seealso employeetype "
        "businesscategory ou"
    )
    return (
        # default-aci.ldif:6
        Grant(
            "selfservice:Self can write own password",
            frozenset({"write"}),
            "self",
            attrs=_words("userpassword krbprincipalkey sambalmpassword sambantpassword"),
        ),
        # default-aci.ldif:11
        Grant(
            "selfservice:User Self service",
            frozenset({"write"}),
            "self",
            attrs=_words(self_service),
        ),
        # default-aci.ldif:12-13, 20-aci.update:12, 140
        Grant(
            "selfservice:Users can manage their own SSH public keys",
            frozenset({"write"}),
            "self",
            attrs=frozenset({"ipasshpubkey"}),
        ),
        Grant(
            "selfservice:Users can manage their own X.509 certificates",
            frozenset({"write"}),
            "self",
            attrs=frozenset({"usercertificate"}),
        ),
        # default-aci.ldif:77, 20-aci.update:143-145
        Grant(
            "Allow member managers to modify members of user groups",
            frozenset({"write"}),
            "userattr",
            location=f"cn=groups,cn=accounts,{suffix}",
            filters=("(objectclass=ipausergroup)",),
            attrs=frozenset({"member"}),
            userattrs=(("membermanager", USERDN), ("membermanager", GROUPDN)),
        ),
        # default-aci.ldif:97-102, install/updates/40-otp.update:21-26
        Grant(
            "Users/managers can read basic token info",
            frozenset({"read", "search", "compare"}),
            "userattr",
            filters=(token,),
            attrs=_words(basic_token),
            userattrs=owner_or_manager,
        ),
        Grant(
            "Users/managers can see TOTP details",
            frozenset({"read", "search", "compare"}),
            "userattr",
            filters=("(objectclass=ipatokentotp)",),
            attrs=frozenset({"ipatokenotpalgorithm", "ipatokenotpdigits", "ipatokentotptimestep"}),
            userattrs=owner_or_manager,
        ),
        Grant(
            "Users/managers can see HOTP details",
            frozenset({"read", "search", "compare"}),
            "userattr",
            filters=("(objectclass=ipatokenhotp)",),
            attrs=frozenset({"ipatokenotpalgorithm", "ipatokenotpdigits"}),
            userattrs=owner_or_manager,
        ),
        Grant(
            "Managers can write basic token info",
            frozenset({"write"}),
            "userattr",
            filters=(token,),
            attrs=_words(token_writable),
            userattrs=(("managedby", USERDN),),
        ),
        Grant(
            "Managers can delete tokens",
            frozenset({"delete"}),
            "userattr",
            filters=(token,),
            userattrs=(("managedby", USERDN),),
        ),
        Grant(
            "Users can create self-managed tokens",
            frozenset({"add"}),
            "userattr",
            target=f"ipatokenuniqueid=*,cn=otp,{suffix}",
            filters=(token,),
            userattrs=(("ipatokenowner", SELFDN), ("managedby", SELFDN)),
            all_userattrs=True,
        ),
    )


def permission_grant(entry: Entry) -> Grant:
    """The ACI FreeIPA writes for a permission entry (permission.py:554-625 make_aci)."""
    rights = frozenset(r.lower() for r in entry.get("ipapermright"))
    if "all" in rights:
        rights = ALL_RIGHTS
    attrs = {a.lower() for a in entry.get("ipapermdefaultattr") + entry.get("ipapermincludedattr")}
    if "read" in rights and "objectclass" in attrs:
        attrs |= OPERATIONAL_WITH_OBJECTCLASS
    attrs -= {a.lower() for a in entry.get("ipapermexcludedattr")}
    return Grant(
        name=f"permission:{entry.first('cn')}",
        rights=rights,
        bind=str(entry.first("ipapermbindruletype", "permission")).lower(),
        location=norm_dn(entry.first("ipapermlocation", "")),
        target=norm_dn(entry.first("ipapermtarget", "")),
        target_from=norm_dn(entry.first("ipapermtargetfrom", "")),
        target_to=norm_dn(entry.first("ipapermtargetto", "")),
        filters=tuple(entry.get("ipapermtargetfilter")),
        attrs=frozenset(attrs),
        dn=norm_dn(entry.dn),
    )


def filter_matches(text: str, entry: Entry) -> bool:
    """Whether entry matches an LDAP filter of the kinds permissions use; unparsable: no."""
    try:
        node, end = _parse(text.strip(), 0)
    except (ValueError, IndexError):
        return False
    return end == len(text.strip()) and _evaluate(node, entry)


def _parse(text: str, i: int) -> tuple[tuple, int]:
    if text[i] != "(":
        raise ValueError(text)
    i += 1
    if text[i] in "&|!":
        operator, children = text[i], []
        i += 1
        while text[i] == "(":
            child, i = _parse(text, i)
            children.append(child)
        if text[i] != ")" or (operator == "!" and len(children) != 1):
            raise ValueError(text)
        return (operator, children), i + 1
    end = text.index(")", i)  # values in permission filters hold no ")" (it would be \29)
    attribute, equals, value = text[i:end].partition("=")
    if not equals:
        raise ValueError(text)
    return ("=", attribute.strip().lower(), value), end + 1


def _evaluate(node: tuple, entry: Entry) -> bool:
    operator = node[0]
    if operator == "&":
        return all(_evaluate(child, entry) for child in node[1])
    if operator == "|":
        return any(_evaluate(child, entry) for child in node[1])
    if operator == "!":
        return not _evaluate(node[1][0], entry)
    _, attribute, value = node
    values = [norm_dn(v) for v in entry.get(attribute) if not isinstance(v, bytes)]
    if value == "*":
        return bool(entry.get(attribute))
    wanted = norm_dn(value)
    if "*" not in wanted:
        return wanted in values
    pattern = re.compile(".*".join(re.escape(part) for part in wanted.split("*")), re.DOTALL)
    return any(pattern.fullmatch(v) for v in values)


@dataclass(frozen=True)
class Need:
    """An LDAP operation a command performs under the caller's bind: the right it needs."""

    right: str  # add | delete | write | moddn
    target: str  # the keyword of require() naming the entry
    attrs: tuple[str, ...] = ()
    to: str = ""  # moddn: the keyword naming the new parent entry


CHANGED = ("<the attributes the call changes>",)

# The operations the stand-in still performs as Directory Manager after checking the caller's
# rights here; every other write goes to 389-ds as the caller (commands.CallerWrites).
# command (or "command/step" for an operation done after an earlier one succeeded) -> Needs.
NEEDS: dict[str, tuple[Need, ...]] = {
    # A password is set through the stand-in's password code (the password extended
    # operation's work), so its write is checked here: baseldap.py:1502-1577 LDAPUpdate.
    "user_mod": (Need("write", "user", CHANGED),),
    # user.py:1075-1150 user_stage: stageuser_add, then user_del of the preserved entry.
    "user_stage": (Need("add", "staged"), Need("delete", "user")),
    # passwd.py:122-152 -> ldap2.py:383-402 password extended operation; ipa-pwd-extop checks
    # write on userPassword and krbPrincipalKey (ipa_pwd_extop.c:501-556).
    "passwd": (
        Need("write", "user", ("userpassword",)),
        Need("write", "user", ("krbprincipalkey",)),
    ),
    # stageuser.py:742-771 stageuser_activate: add the active entry, delete the staged one
    # (undoing the add if that fails); the stand-in moves the entry instead.
    "stageuser_activate": (Need("add", "user"),),
    "stageuser_activate/delete staged": (Need("delete", "staged"),),
}


class Access:
    """The caller's rights in the directory, for one command."""

    def __init__(self, tree: Tree, caller: Entry) -> None:
        self.tree = tree
        self.caller = caller
        self.caller_dn = norm_dn(caller.dn)

    @cached_property
    def is_admin(self) -> bool:
        return self.tree.is_admin(self.caller.dn)

    @cached_property
    def groups(self) -> frozenset[str]:
        """The user groups the caller is a member of, directly or through other groups."""
        found: set[str] = set()
        frontier = {self.caller.dn}
        while frontier:
            entries = self._holding(self.tree.container("groups"), frontier)
            frontier = {e.dn for e in entries if norm_dn(e.dn) not in found}
            found |= {norm_dn(dn) for dn in frontier}
        return frozenset(found)

    @cached_property
    def held(self) -> frozenset[str]:
        """Permissions held through role -> privilege -> permission (nested groupofnames)."""
        members = {self.caller.dn, *self.groups}
        roles = {e.dn for e in self._holding(self.tree.container("roles"), members)}
        privileges = {
            e.dn for e in self._holding(self.tree.container("privileges"), members | roles)
        }
        permissions = self._holding(
            self.tree.container("permissions"), members | roles | privileges
        )
        return frozenset(norm_dn(e.dn) for e in permissions)

    def _holding(self, container: str, dns: set[str]) -> list[Entry]:
        if not dns:
            return []
        wanted = "".join(f"(member={escape(dn)})" for dn in sorted(dns))
        return self.tree.directory.search(container, f"(|{wanted})", attributes=("cn",))

    @cached_property
    def grants(self) -> tuple[Grant, ...]:
        """The ACIs that may apply to the caller: fixed ones and the permissions it holds."""
        permissions = [
            permission_grant(entry)
            for entry in self.tree.directory.search(
                self.tree.container("permissions"), "(objectclass=ipapermissionv2)"
            )
        ]
        applicable = [g for g in permissions if g.bind != "permission" or g.dn in self.held]
        return (*_fixed(self.tree.base), *applicable)

    def allows(
        self, right: str, entry: Entry, attr: str | None = None, moved_from: str = ""
    ) -> bool:
        """Whether the caller has `right` on entry (on attr, for read/search/compare/write).

        For moddn, entry is the new parent and moved_from the DN of the entry being moved.
        """
        if self.is_admin:
            return True
        return any(
            self._applies(grant, right, entry, moved_from)
            and (right in ENTRY_RIGHTS or self._covers(grant, attr))
            for grant in self.grants
        )

    def readable(self, entry: Entry) -> frozenset[str] | None:
        """The attributes the caller may read of entry; None: all of them."""
        if self.is_admin:
            return None
        attrs: set[str] = set()
        for grant in self.grants:
            if self._applies(grant, "read", entry):
                if "*" in grant.attrs:
                    return None
                attrs |= grant.attrs
        return frozenset(attrs)

    def can_read(self, entry: Entry) -> bool:
        """Whether a search as the caller finds entry at all."""
        readable = self.readable(entry)
        return readable is None or bool(readable)

    @staticmethod
    def _covers(grant: Grant, attr: str | None) -> bool:
        if attr is None:
            return bool(grant.attrs)
        return "*" in grant.attrs or attr.lower() in grant.attrs

    def _applies(self, grant: Grant, right: str, entry: Entry, moved_from: str = "") -> bool:
        if right not in grant.rights or not self._binds(grant, entry):
            return False
        dn = norm_dn(entry.dn)
        if grant.location and not under(dn, grant.location):
            return False
        if grant.target and not fnmatch.fnmatchcase(dn, grant.target):
            return False
        if right == "moddn":
            if grant.target_to and not under(dn, grant.target_to):
                return False
            if grant.target_from and not under(norm_dn(moved_from), grant.target_from):
                return False
        return all(filter_matches(text, entry) for text in grant.filters)

    def _binds(self, grant: Grant, entry: Entry) -> bool:
        if grant.bind in ("all", "anonymous"):
            return True
        if grant.bind == "permission":
            return grant.dn in self.held
        if grant.bind == "self":
            return norm_dn(entry.dn) == self.caller_dn
        if grant.bind == "userattr":
            found = [self._userattr(entry, name, kind) for name, kind in grant.userattrs]
            return all(found) if grant.all_userattrs else any(found)
        return False

    def _userattr(self, entry: Entry, name: str, kind: str) -> bool:
        values = {norm_dn(v) for v in entry.get(name)}
        if kind == GROUPDN:
            return bool(values & self.groups)
        return self.caller_dn in values

    def denial(
        self, command: str, changed: tuple[str, ...] | list[str] = (), **targets: Entry
    ) -> errors.PublicError | None:
        """The ACIError 389-ds would answer for the first operation refused; None if allowed."""
        for need in NEEDS[command]:
            entry = targets[need.target]
            if need.right == "write":
                for attr in changed if need.attrs == CHANGED else need.attrs:
                    if not self.allows("write", entry, attr):
                        return errors.write_denied(self.tree.attribute_name(attr), entry.dn)
            elif need.right == "moddn":
                parent = targets[need.to]
                if not self.allows("moddn", parent, moved_from=entry.dn):
                    return errors.moddn_denied(parent.dn)
            elif not self.allows(need.right, entry):
                denied = errors.add_denied if need.right == "add" else errors.delete_denied
                return denied(entry.dn)
        return None

    def require(
        self, command: str, changed: tuple[str, ...] | list[str] = (), **targets: Entry
    ) -> None:
        denial = self.denial(command, changed, **targets)
        if denial is not None:
            raise denial
