"""The directory behind the stand-in: python-ldap connections as Directory Manager.

Every piece of state lives in 389-ds, so an LDAP client sees what FreeIPA would store.
"""

from __future__ import annotations

import contextlib
import enum
import queue
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import ldap
import ldap.filter
from ldap.controls import DecodeControlTuples, LDAPControl
from ldap.controls.ppolicy import PasswordPolicyControl
from ldap.controls.simple import ProxyAuthzControl
from ldap.ldapobject import LDAPObject

BINARY_ATTRIBUTES = frozenset({"ipatokenotpkey", "krbextradata", "krbprincipalkey"})
ID_RANGE_SIZE = 200_000
# 389-ds's Get Effective Rights request control.
GET_EFFECTIVE_RIGHTS = "1.3.6.1.4.1.42.2.27.9.5.2"
# The `error` of a password policy response control (draft-behera-ldap-password-policy).
PPOLICY_PASSWORD_EXPIRED = 0


class PasswordCheck(enum.Enum):
    """What a simple bind with a password says about it."""

    ACCEPTED = "accepted"
    # The right password, refused because it has expired (and no grace login is left).
    EXPIRED = "expired"
    REFUSED = "refused"


@dataclass
class Entry:
    """One LDAP entry; attribute names lower-cased, values decoded unless binary."""

    dn: str
    attrs: dict[str, list] = field(default_factory=dict)

    def get(self, name: str) -> list:
        return self.attrs.get(name.lower(), [])

    def first(self, name: str, default=None):
        values = self.get(name)
        return values[0] if values else default

    def has_class(self, name: str) -> bool:
        return name.lower() in {value.lower() for value in self.get("objectclass")}


def escape(value: str) -> str:
    return ldap.filter.escape_filter_chars(value)


def _encode(values: Iterable) -> list[bytes]:
    return [value if isinstance(value, bytes) else str(value).encode() for value in values]


def _decode(raw: dict[str, list[bytes]]) -> dict[str, list]:
    attrs: dict[str, list] = {}
    for name, values in raw.items():
        key = name.lower()
        attrs[key] = values if key in BINARY_ATTRIBUTES else [v.decode() for v in values]
    return attrs


class Directory:
    """A small pool of Directory Manager connections, safe to share between threads."""

    def __init__(self, uri: str, bind_dn: str, password: str, base_dn: str) -> None:
        self.uri = uri
        self.base_dn = base_dn
        self._bind_dn = bind_dn
        self._password = password
        self._idle: queue.LifoQueue[LDAPObject] = queue.LifoQueue()
        self.id_lock = threading.Lock()
        self._attribute_names: dict[str, str] | None = None

    def dn(self, rdn: str) -> str:
        return f"{rdn},{self.base_dn}"

    def _open(self) -> LDAPObject:
        connection = ldap.initialize(self.uri)
        connection.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        connection.simple_bind_s(self._bind_dn, self._password)
        return connection

    @contextlib.contextmanager
    def connection(self) -> Iterator[LDAPObject]:
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._open()
        try:
            yield connection
        except (ldap.SERVER_DOWN, ldap.CONNECT_ERROR):
            connection.unbind_s()
            raise
        else:
            self._idle.put(connection)

    def search(
        self,
        base: str,
        filterstr: str = "(objectClass=*)",
        scope: int = ldap.SCOPE_ONELEVEL,
        attributes: tuple[str, ...] = ("*", "nsAccountLock"),
    ) -> list[Entry]:
        with self.connection() as connection:
            try:
                found = connection.search_s(base, scope, filterstr, list(attributes))
            except ldap.NO_SUCH_OBJECT:
                return []
        return [Entry(dn, _decode(attrs)) for dn, attrs in found if dn]

    def get(self, dn: str) -> Entry | None:
        found = self.search(dn, scope=ldap.SCOPE_BASE)
        return found[0] if found else None

    def search_as(
        self,
        identity_dn: str,
        base: str,
        filterstr: str = "(objectClass=*)",
        scope: int = ldap.SCOPE_ONELEVEL,
        attributes: tuple[str, ...] = ("*", "nsAccountLock"),
    ) -> list[Entry]:
        """A search as identity_dn makes it: 389-ds applies its ACIs to that identity.

        FreeIPA binds as the caller; Directory Manager gets the same answer by asking with the
        proxied authorization control (RFC 4370), which 389-ds grants the root DN. 389-ds leaves
        out the entries the identity may not read, the attributes it may not read, and the
        entries matched on an attribute it has no `search` right on (acl.c test_filter_access).
        """
        control = ProxyAuthzControl(True, f"dn:{identity_dn}".encode())
        with self.connection() as connection:
            try:
                found = connection.search_ext_s(
                    base, scope, filterstr, list(attributes), serverctrls=[control]
                )
            except ldap.NO_SUCH_OBJECT:
                return []
        return [Entry(dn, _decode(attrs)) for dn, attrs in found if dn]

    def read_as(
        self, identity_dn: str, dn: str, attributes: tuple[str, ...] = ("*",)
    ) -> Entry | None:
        """dn as identity_dn reads it (see search_as); None when it may not read it."""
        found = self.search_as(identity_dn, dn, scope=ldap.SCOPE_BASE, attributes=attributes)
        return found[0] if found else None

    def rights_as(
        self, identity_dn: str, dn: str, attributes: tuple[str, ...]
    ) -> dict[str, str] | None:
        """What 389-ds's access control lets identity_dn do to attributes of dn, as the
        letters of the Get Effective Rights control (`w` write, `r` read, ...); None when
        the entry is not there.

        A plug-in that checks a right before it acts (ipa-pwd-extop's slapi_access_allowed,
        ipa_pwd_extop.c:501-556) asks 389-ds the same question.
        """
        control = LDAPControl(
            GET_EFFECTIVE_RIGHTS, True, encodedControlValue=b"dn:" + identity_dn.encode()
        )
        wanted = [*attributes, "attributeLevelRights"]
        with self.connection() as connection:
            try:
                found = connection.search_ext_s(
                    dn, ldap.SCOPE_BASE, "(objectClass=*)", wanted, serverctrls=[control]
                )
            except ldap.NO_SUCH_OBJECT:
                return None
        rights: dict[str, str] = {}
        for _, attrs in found:
            for text in attrs.get("attributeLevelRights", []):
                for part in text.decode().split(","):
                    name, _, letters = part.strip().partition(":")
                    rights[name.lower()] = "" if letters == "none" else letters
        return rights

    def add(self, dn: str, attrs: dict[str, Iterable]) -> None:
        modlist = [(name, _encode(values)) for name, values in attrs.items() if values]
        with self.connection() as connection:
            connection.add_ext_s(dn, modlist, serverctrls=self._controls())

    def modify(self, dn: str, changes: list[tuple[int, str, Iterable | None]]) -> None:
        modlist = [
            (op, name, None if values is None else _encode(values)) for op, name, values in changes
        ]
        with self.connection() as connection:
            connection.modify_ext_s(dn, modlist, serverctrls=self._controls())

    def replace(self, dn: str, attrs: dict[str, Iterable | None]) -> None:
        self.modify(
            dn, [(ldap.MOD_REPLACE, name, values or None) for name, values in attrs.items()]
        )

    def delete(self, dn: str) -> None:
        with self.connection() as connection:
            connection.delete_ext_s(dn, serverctrls=self._controls())

    def move(self, dn: str, new_parent: str) -> str:
        rdn = ldap.dn.explode_dn(dn)[0]
        with self.connection() as connection:
            connection.rename_s(dn, rdn, new_parent, serverctrls=self._controls())
        return f"{rdn},{new_parent}"

    def _controls(self) -> list | None:
        return None

    def bound_as(self, identity_dn: str) -> Directory:
        """The same directory, every write made as identity_dn (see Bound)."""
        return Bound(self, identity_dn)

    def check_password(self, dn: str, password: str) -> PasswordCheck:
        """Bind as dn with the password, asking for 389-ds's password policy control.

        389-ds refuses locked accounts (nsAccountLock) outright. It checks the password first
        and only then its expiry (need_new_pw in ldap/servers/slapd/pw_mgmt.c, called from
        bind.c once the credentials matched), so a refusal carrying the control's
        passwordExpired error means the password was right but has expired.
        """
        if not password:
            return PasswordCheck.REFUSED
        connection = ldap.initialize(self.uri)
        connection.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        try:
            connection.simple_bind_s(dn, password, serverctrls=[PasswordPolicyControl()])
        except ldap.INVALID_CREDENTIALS as error:
            return PasswordCheck.EXPIRED if _expired(error) else PasswordCheck.REFUSED
        except (ldap.UNWILLING_TO_PERFORM, ldap.CONSTRAINT_VIOLATION):
            return PasswordCheck.REFUSED
        finally:
            connection.unbind_s()
        return PasswordCheck.ACCEPTED

    def attribute_names(self) -> dict[str, str]:
        """Every attribute type the schema knows, lower-cased name -> its own spelling."""
        if self._attribute_names is None:
            found = self.search("cn=schema", scope=ldap.SCOPE_BASE, attributes=("attributeTypes",))
            names: dict[str, str] = {}
            for definition in found[0].get("attributetypes") if found else []:
                match = re.search(r"NAME\s+(?:'([^']+)'|\(\s*'([^']+)')", definition)
                if match:
                    name = match.group(1) or match.group(2)
                    names[name.lower()] = name
            self._attribute_names = names
        return self._attribute_names

    def next_id(self, range_dn: str) -> int:
        """Take the next number of the ID range with compare-and-set, so no two callers share it."""
        while True:
            entry = self.get(range_dn)
            if entry is None:
                raise RuntimeError(f"ID range {range_dn} is missing")
            current = int(entry.first("ipanextid"))
            if current >= int(entry.first("ipabaseid")) + int(entry.first("ipaidrangesize")):
                raise RuntimeError("ID range exhausted")
            try:
                self.modify(
                    range_dn,
                    [
                        (ldap.MOD_DELETE, "ipaNextID", [current]),
                        (ldap.MOD_ADD, "ipaNextID", [current + 1]),
                    ],
                )
            except ldap.NO_SUCH_ATTRIBUTE:
                continue
            return current


class Bound(Directory):
    """Writes as one identity: Directory Manager sends each with the proxied authorization
    control (RFC 4370), so 389-ds applies its ACIs to that identity and refuses what they do
    not allow, as it does for FreeIPA's framework bound as the caller. Its searches stay
    Directory Manager's: reads as the identity go through search_as.
    """

    def __init__(self, directory: Directory, identity_dn: str) -> None:
        self.__dict__.update(directory.__dict__)
        self.identity_dn = identity_dn

    def _controls(self) -> list:
        return [ProxyAuthzControl(True, f"dn:{self.identity_dn}".encode())]


def _expired(error: ldap.LDAPError) -> bool:
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    controls = DecodeControlTuples(details.get("ctrls") or [])
    return any(
        isinstance(control, PasswordPolicyControl) and control.error == PPOLICY_PASSWORD_EXPIRED
        for control in controls
    )


def pending(dn: str, attrs: dict[str, Iterable]) -> Entry:
    """An entry about to be added, shaped as a search would return it (for access checks)."""
    values = {
        name.lower(): [v if isinstance(v, bytes) else str(v) for v in value]
        for name, value in attrs.items()
        if value
    }
    return Entry(dn, values)
