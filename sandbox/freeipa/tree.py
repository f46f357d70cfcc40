"""Where FreeIPA keeps things in the directory, and the look-ups every command shares."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from . import errors
from .store import Directory, Entry, escape

ADMINS = "admins"
DEFAULT_GROUP = "ipausers"
ACTIVE, STAGED, PRESERVED = "active", "staged", "preserved"
# ipalib/constants.py:366-372: every subordinate id range is SUBID_COUNT long, from 2**31 on.
SUBID_COUNT = 65536
SUBID_RANGE_START = 2**31
SUBID_RANGE_MAX = 2**32 - 2 * SUBID_COUNT
SUBID_RANGES = (SUBID_RANGE_MAX - SUBID_RANGE_START) // SUBID_COUNT


@dataclass
class Tree:
    """The FreeIPA layout inside one directory suffix."""

    directory: Directory
    realm: str

    @property
    def base(self) -> str:
        return self.directory.base_dn

    @property
    def domain(self) -> str:
        return self.realm.lower()

    def container(self, kind: str) -> str:
        rdn = {
            ACTIVE: "cn=users,cn=accounts",
            STAGED: "cn=staged users,cn=accounts,cn=provisioning",
            PRESERVED: "cn=deleted users,cn=accounts,cn=provisioning",
            "groups": "cn=groups,cn=accounts",
            "roles": "cn=roles,cn=accounts",
            "privileges": "cn=privileges,cn=pbac",
            "permissions": "cn=permissions,cn=pbac",
            "otp": "cn=otp",
            "subids": "cn=subids,cn=accounts",
            "kerberos": f"cn={self.realm},cn=kerberos",
            "ranges": "cn=ranges,cn=etc",
        }[kind]
        return f"{rdn},{self.base}"

    def user_dn(self, uid: str, kind: str = ACTIVE) -> str:
        return f"uid={uid},{self.container(kind)}"

    def group_dn(self, name: str) -> str:
        return f"cn={name},{self.container('groups')}"

    def role_dn(self, name: str) -> str:
        return f"cn={name},{self.container('roles')}"

    def privilege_dn(self, name: str) -> str:
        return f"cn={name},{self.container('privileges')}"

    def permission_dn(self, name: str) -> str:
        return f"cn={name},{self.container('permissions')}"

    def token_dn(self, token_id: str) -> str:
        return f"ipatokenuniqueid={token_id},{self.container('otp')}"

    @property
    def range_dn(self) -> str:
        return f"cn={self.realm}_id_range,{self.container('ranges')}"

    @property
    def subid_range_dn(self) -> str:
        """Which subordinate id range comes next, counted in ranges (DNA's dnaInterval)."""
        return f"cn={self.realm}_subid_range,{self.container('ranges')}"

    @property
    def config_dn(self) -> str:
        return f"cn=ipaConfig,cn=etc,{self.base}"

    @property
    def upg_definition_dn(self) -> str:
        """The Managed Entries definition of user private groups (ldap2.py:266-267)."""
        return f"cn=UPG Definition,cn=Definitions,cn=Managed Entries,cn=etc,{self.base}"

    @property
    def global_policy_dn(self) -> str:
        return f"cn=global_policy,{self.container('kerberos')}"

    def principal(self, uid: str) -> str:
        return f"{uid}@{self.realm}"

    def user(self, uid: str, kinds: tuple[str, ...] = (ACTIVE,)) -> Entry | None:
        for kind in kinds:
            entry = self.directory.get(self.user_dn(uid, kind))
            if entry is not None:
                return entry
        return None

    def require_user(self, uid: str, kinds: tuple[str, ...] = (ACTIVE,)) -> Entry:
        entry = self.user(uid, kinds)
        if entry is None:
            raise errors.not_found(uid, "stage user" if kinds == (STAGED,) else "user")
        return entry

    def group(self, name: str) -> Entry | None:
        return self.directory.get(self.group_dn(name))

    def require_group(self, name: str) -> Entry:
        entry = self.group(name)
        if entry is None or entry.has_class("mepManagedEntry"):
            raise errors.not_found(name, "group")
        return entry

    def groups_with(self, attribute: str, dn: str, container: str = "groups") -> list[Entry]:
        return self.directory.search(self.container(container), f"({attribute}={escape(dn)})")

    def is_member(self, user_dn: str, group: str) -> bool:
        entry = self.group(group)
        return entry is not None and user_dn.lower() in {m.lower() for m in entry.get("member")}

    def is_admin(self, user_dn: str) -> bool:
        return self.is_member(user_dn, ADMINS)

    def attribute_name(self, name: str) -> str:
        """The schema's spelling of an attribute, as 389-ds writes it in its messages."""
        return self.directory.attribute_names().get(name.lower(), name)

    def new_id(self) -> int:
        return self.directory.next_id(self.range_dn)

    def new_subid_start(self) -> int:
        """The start of a new subordinate id range, as DNA gives it (install/share/dna.ldif,
        cn=Subordinate IDs: dnaInterval SUBID_COUNT from SUBID_RANGE_START)."""
        return SUBID_RANGE_START + self.directory.next_id(self.subid_range_dn) * SUBID_COUNT

    def subids_for_new_users(self) -> bool:
        """ipaUserDefaultSubordinateId of the global configuration (config.py:296-300)."""
        config = self.directory.get(self.config_dn)
        return config is not None and config.first("ipauserdefaultsubordinateid") == "TRUE"

    def id_base(self) -> int:
        entry = self.directory.get(self.range_dn)
        return int(entry.first("ipabaseid")) if entry else 0

    def sid(self, number: int) -> str:
        """A security identifier as FreeIPA's sidgen would make: domain SID plus RID."""
        digest = hashlib.sha256(f"{self.realm}:{self.id_base()}".encode()).digest()
        parts = [int.from_bytes(digest[i : i + 4], "big") for i in (0, 4, 8)]
        rid = number - self.id_base() + 1000
        return "S-1-5-21-{}-{}-{}-{}".format(*parts, rid)


def unique_id() -> str:
    return str(uuid.uuid1())
