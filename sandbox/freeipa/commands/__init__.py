"""The JSON-RPC command table: option checks, permission checks and dispatch."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import ldap

from .. import errors
from ..encoding import decode_value
from ..store import Entry
from ..tree import Tree

API_VERSION = "2.252"
SERVER_VERSION = "4.10.3"
COMMON_OPTIONS = frozenset({"version", "all", "raw", "no_members", "rights"})
FIND_OPTIONS = frozenset({"pkey_only", "sizelimit", "timelimit"})


class CallerWrites:
    """The directory as the caller writes to it: 389-ds applies its ACIs, and a refusal is
    FreeIPA's 2100 ACIError carrying 389-ds's text (ipapython/ipaldap.py:1121-1122).

    Attribute names are sent as the schema spells them, which 389-ds repeats in its refusals.
    """

    def __init__(self, tree: Tree, caller_dn: str) -> None:
        self._tree = tree
        self._bound = tree.directory.bound_as(caller_dn)

    def add(self, dn: str, attrs: dict[str, Iterable]) -> None:
        self._run(self._bound.add, dn, {self._tree.attribute_name(k): v for k, v in attrs.items()})

    def modify(self, dn: str, changes: list[tuple[int, str, Iterable | None]]) -> None:
        named = [(op, self._tree.attribute_name(name), values) for op, name, values in changes]
        self._run(self._bound.modify, dn, named)

    def replace(self, dn: str, attrs: dict[str, Iterable | None]) -> None:
        self.modify(dn, [(ldap.MOD_REPLACE, k, v or None) for k, v in attrs.items()])

    def delete(self, dn: str) -> None:
        self._run(self._bound.delete, dn)

    def move(self, dn: str, new_parent: str) -> str:
        return self._run(self._bound.move, dn, new_parent)

    @staticmethod
    def _run(operation: Callable[..., Any], *args: Any) -> Any:
        try:
            return operation(*args)
        except ldap.INSUFFICIENT_ACCESS as error:
            details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
            info = str(details.get("info") or "Insufficient access rights").strip()
            raise errors.ACIError(info=info) from None


class CallerReads:
    """The directory as the caller reads it: 389-ds decides which entries and attributes the
    caller sees, and which filters it may search on, from FreeIPA's ACIs (ipaserver/plugins/
    ldap2.py: every search and read is made under the caller's bind)."""

    def __init__(self, tree: Tree, caller_dn: str) -> None:
        self._directory = tree.directory
        self._caller_dn = caller_dn

    def search(
        self,
        base: str,
        filterstr: str = "(objectClass=*)",
        scope: int = ldap.SCOPE_ONELEVEL,
        attributes: tuple[str, ...] = ("*", "nsAccountLock"),
    ) -> list[Entry]:
        return self._directory.search_as(self._caller_dn, base, filterstr, scope, attributes)

    def get(self, dn: str, attributes: tuple[str, ...] = ("*", "nsAccountLock")) -> Entry | None:
        return self._directory.read_as(self._caller_dn, dn, attributes)


@dataclass
class Call:
    """One command invocation by an authenticated caller."""

    tree: Tree
    caller: Entry
    args: list
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def caller_uid(self) -> str:
        return self.caller.first("uid")

    @cached_property
    def writes(self) -> CallerWrites:
        """Writes made as the caller: 389-ds decides whether they are allowed."""
        return CallerWrites(self.tree, self.caller.dn)

    @cached_property
    def reads(self) -> CallerReads:
        """Reads made as the caller: 389-ds decides what they find."""
        return CallerReads(self.tree, self.caller.dn)

    def readable(self, entry: Entry) -> frozenset[str]:
        """The attributes of entry the caller reads, as 389-ds answers a read of it now."""
        seen = self.reads.get(entry.dn)
        return frozenset(seen.attrs) if seen is not None else frozenset()

    def can_read(self, entry: Entry | None) -> bool:
        """Whether a read as the caller finds entry at all."""
        return entry is not None and self.reads.get(entry.dn) is not None

    def arg(self, index: int = 0, default: Any = None) -> Any:
        return self.args[index] if len(self.args) > index else default

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.options.get(name, default)
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return bool(value)


Handler = Callable[[Call], dict[str, Any]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    options: frozenset[str]


COMMANDS: dict[str, Command] = {}


def command(
    name: str, options: tuple[str, ...] = (), find: bool = False
) -> Callable[[Handler], Handler]:
    """Register a handler; any option outside `options` is refused as FreeIPA does."""

    def register(handler: Handler) -> Handler:
        allowed = COMMON_OPTIONS | set(options) | (FIND_OPTIONS if find else set())
        COMMANDS[name] = Command(name, handler, frozenset(allowed))
        return handler

    return register


def check_version(options: dict[str, Any], server_url: str) -> list[dict[str, Any]]:
    """Refuse another major API version; warn, as FreeIPA does, when none was sent."""
    version = options.get("version")
    if version is None:
        message = (
            "API Version number was not sent, forward compatibility not guaranteed. "
            f"Assuming server's API version, {API_VERSION}"
        )
        return [
            {
                "type": "warning",
                "name": "VersionMissing",
                "message": message,
                "code": 13001,
                "data": {"server_version": API_VERSION},
            }
        ]
    match = re.fullmatch(r"(\d+)\.(\d+)", str(version))
    if match is None or match.group(1) != API_VERSION.split(".")[0]:
        raise errors.VersionError(cver=version, sver=API_VERSION, server=server_url)
    return []


def execute(
    tree: Tree, caller: Entry, method: str, args: list, options: dict[str, Any], server_url: str
) -> dict[str, Any]:
    """Run one command and return its `result` value; PublicError on failure."""
    found = COMMANDS.get(method)
    if found is None:
        raise errors.CommandError(name=method)
    messages = check_version(options, server_url)
    unknown = sorted(set(options) - found.options)
    if unknown:
        raise errors.OptionError(option=unknown[0])
    call = Call(
        tree,
        caller,
        [decode_value(a) for a in args],
        {k: decode_value(v) for k, v in options.items()},
    )
    result = found.handler(call)
    if messages:
        result = {**result, "messages": messages}
    return result


def load_all() -> None:
    """Import the command modules so they register themselves."""
    from . import groups, misc, otp, pbac, policy, stage, users  # noqa: F401
