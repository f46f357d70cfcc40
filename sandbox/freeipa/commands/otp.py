"""otptoken_* commands: TOTP/HOTP tokens with FreeIPA's last-active-token protection."""

from __future__ import annotations

import base64
import os
import urllib.parse
import uuid
from typing import Any

import ldap

from .. import errors
from ..store import Entry, escape
from ..views import token_view
from . import Call, command
from .users import _listed, find_result, normalize_name, visible_user

TOKEN_OPTIONS = (
    "type",
    "description",
    "ipatokenowner",
    "ipatokendisabled",
    "ipatokennotbefore",
    "ipatokennotafter",
    "ipatokenvendor",
    "ipatokenmodel",
    "ipatokenserial",
    "ipatokenotpkey",
    "ipatokenotpalgorithm",
    "ipatokenotpdigits",
    "ipatokentotpclockoffset",
    "ipatokentotptimestep",
    "ipatokenhotpcounter",
)
KEY_LENGTH = 35


def _owner_dn(call: Call, owner: Any) -> str:
    uid = normalize_name(owner) if owner else call.caller_uid
    return visible_user(call, uid).dn


def _view(call: Call, entry: Entry) -> dict[str, Any]:
    return token_view(call.tree, entry, call.options, readable=call.readable(entry))


def _token_uri(call: Call, entry: Entry) -> str:
    owner = call.tree.directory.get(entry.first("ipatokenowner"))
    issuer = owner.first("krbprincipalname") if owner else ""
    kind = "totp" if entry.has_class("ipatokentotp") else "hotp"
    query = {
        "issuer": issuer,
        "secret": base64.b32encode(entry.first("ipatokenotpkey")).decode(),
        "digits": entry.first("ipatokenotpdigits"),
        "algorithm": entry.first("ipatokenotpalgorithm").upper(),
    }
    if kind == "totp":
        query["period"] = entry.first("ipatokentotptimestep")
    else:
        query["counter"] = entry.first("ipatokenhotpcounter")
    label = urllib.parse.quote(f"{issuer}:{entry.first('ipatokenuniqueid')}", safe="@:")
    return f"otpauth://{kind}/{label}?{urllib.parse.urlencode(query)}"


@command("otptoken_add", (*TOKEN_OPTIONS, "qrcode", "no_qrcode"))
def otptoken_add(call: Call) -> dict[str, Any]:
    tree = call.tree
    options = call.options
    requested = call.arg()
    token_id = str(requested or uuid.uuid4())
    owner_dn = _owner_dn(call, options.get("ipatokenowner"))
    dn = tree.token_dn(token_id)
    kind = str(options.get("type") or "totp").lower()
    if kind not in ("totp", "hotp"):
        raise errors.ValidationError(name="type", error="must be one of 'totp', 'hotp'")
    algorithm = str(options.get("ipatokenotpalgorithm") or "sha1").lower()
    if algorithm not in ("sha1", "sha256", "sha384", "sha512"):
        raise errors.ValidationError(
            name="algo", error="must be one of 'sha1', 'sha256', 'sha384', 'sha512'"
        )
    digits = int(options.get("ipatokenotpdigits") or 6)
    if digits not in (6, 8):
        raise errors.ValidationError(name="digits", error="must be one of '6', '8'")
    key = options.get("ipatokenotpkey") or os.urandom(KEY_LENGTH)
    attrs: dict[str, list] = {
        "objectClass": ["ipatoken", "ipatokentotp" if kind == "totp" else "ipatokenhotp", "top"],
        "ipatokenUniqueID": [token_id],
        "ipatokenOwner": [owner_dn],
        "ipatokenOTPkey": [key if isinstance(key, bytes) else str(key).encode()],
        "ipatokenOTPalgorithm": [algorithm],
        "ipatokenOTPdigits": [digits],
    }
    if kind == "totp":
        attrs["ipatokenTOTPclockOffset"] = [int(options.get("ipatokentotpclockoffset") or 0)]
        attrs["ipatokenTOTPtimeStep"] = [int(options.get("ipatokentotptimestep") or 30)]
    else:
        attrs["ipatokenHOTPcounter"] = [int(options.get("ipatokenhotpcounter") or 0)]
    for name in ("description", "ipatokenvendor", "ipatokenmodel", "ipatokenserial"):
        if options.get(name):
            attrs[name] = [str(options[name])]
    if options.get("ipatokendisabled") is not None:
        attrs["ipatokenDisabled"] = ["TRUE" if call.flag("ipatokendisabled") else "FALSE"]
    if owner_dn.lower() == call.caller.dn.lower():
        attrs["managedBy"] = [owner_dn]
    try:
        call.writes.add(dn, attrs)
    except ldap.ALREADY_EXISTS:
        raise errors.DuplicateEntry(f'OTP token with name "{token_id}" already exists') from None
    entry = tree.directory.get(dn)
    # LDAPCreate finds the new token again as the caller (baseldap.py:1317-1332): one it
    # may add but not read is added, and the answer is NotFound.
    if not call.can_read(entry):
        raise errors.not_found(token_id, "OTP token")
    view = _view(call, entry)
    view["uri"] = _token_uri(call, entry)
    return {"result": view, "value": requested, "summary": f'Added OTP token "{requested or ""}"'}


def _token(call: Call, token_id: str) -> Entry:
    """The token, whether or not the caller may see it; NotFound when there is none."""
    entry = call.tree.directory.get(call.tree.token_dn(token_id)) if token_id else None
    if entry is None:
        raise errors.not_found(token_id, "OTP token")
    return entry


def _visible_token(call: Call) -> Entry:
    """The token as a search with the caller's rights finds it (owner, manager, admins)."""
    token_id = str(call.arg() or "")
    entry = _token(call, token_id)
    if not call.can_read(entry):
        raise errors.not_found(token_id, "OTP token")
    return entry


def _owned_by_caller(call: Call, entry: Entry) -> bool:
    return str(entry.first("ipatokenowner", "")).lower() == call.caller.dn.lower()


def _enabled(entry: Entry) -> bool:
    return str(entry.first("ipatokendisabled", "FALSE")).upper() != "TRUE"


def _password_login_allowed(call: Call) -> bool:
    """Whether the caller's authentication types include a password alone: its own
    ipaUserAuthType, else the global one, else password (libotp/otp_config.c:304-330)."""
    config = call.tree.directory.get(call.tree.config_dn)
    global_types = {t.lower() for t in config.get("ipauserauthtype")} if config else set()
    own = (
        set()
        if "disabled" in global_types
        else {t.lower() for t in call.caller.get("ipauserauthtype")}
    )
    types = (own - {"disabled"}) or (global_types - {"disabled"}) or {"password"}
    return "password" in types


def _guard_last_token(call: Call, entry: Entry, action: str) -> None:
    """The bound account may not remove its own last active token when it could not log in
    without one (ipa-otp-lasttoken/ipa_otp_lasttoken.c:139-181 is_allowed): only the deleting
    account's tokens count, so anyone else, an admin or a service account, may."""
    if not _owned_by_caller(call, entry) or not _enabled(entry):
        return
    if _password_login_allowed(call):
        return
    owner = escape(entry.first("ipatokenowner"))
    others = [
        t
        for t in call.tree.directory.search(call.tree.container("otp"), f"(ipatokenOwner={owner})")
        if t.dn.lower() != entry.dn.lower() and _enabled(t)
    ]
    if not others:
        raise errors.DatabaseError(
            desc="Server is unwilling to perform", info=f"Can't {action} last active token"
        )


@command("otptoken_find", TOKEN_OPTIONS, find=True)
def otptoken_find(call: Call) -> dict[str, Any]:
    tree = call.tree
    parts = ["(objectClass=ipatoken)"]
    if call.options.get("ipatokenowner"):
        # otptoken.py:445-448 -> _normalize_owner: an owner who is not an active user is
        # NotFound, as for otptoken_add (a preserved user's tokens cannot be looked up).
        owner_dn = _owner_dn(call, call.options["ipatokenowner"])
        parts.append(f"(ipatokenOwner={escape(owner_dn)})")
    if call.options.get("description"):
        parts.append(f"(description={escape(str(call.options['description']))})")
    # A search as the caller finds only what it may read: others' tokens are left out.
    entries = call.reads.search(tree.container("otp"), "(&" + "".join(parts) + ")")
    if call.arg():
        term = str(call.arg()).lower()
        entries = [e for e in entries if term in _searchable(e)]
    return find_result(call, entries, "OTP token", "OTP tokens", lambda e: _view(call, e))


def _searchable(entry: Entry) -> str:
    owner = str(entry.first("ipatokenowner", "")).split(",", 1)[0]
    return " ".join(
        [entry.first("ipatokenuniqueid"), entry.first("description", ""), owner]
    ).lower()


@command("otptoken_show")
def otptoken_show(call: Call) -> dict[str, Any]:
    entry = _visible_token(call)
    return {"result": _view(call, entry), "value": entry.first("ipatokenuniqueid"), "summary": None}


@command("otptoken_mod", (*TOKEN_OPTIONS, "setattr", "addattr", "delattr"))
def otptoken_mod(call: Call) -> dict[str, Any]:
    entry = _visible_token(call)
    token_id = entry.first("ipatokenuniqueid")
    changes: dict[str, list] = {}
    for name in ("description", "ipatokenvendor", "ipatokenmodel", "ipatokenserial"):
        if name in call.options:
            values = _listed(call.options[name])
            if values != entry.get(name):
                changes[name] = values
    if "ipatokendisabled" in call.options:
        wanted = "TRUE" if call.flag("ipatokendisabled") else "FALSE"
        if wanted != str(entry.first("ipatokendisabled", "")).upper():
            changes["ipatokenDisabled"] = [wanted]
    if "ipatokenowner" in call.options:
        owner_dn = _owner_dn(call, call.options["ipatokenowner"])
        if owner_dn.lower() != str(entry.first("ipatokenowner", "")).lower():
            changes["ipatokenOwner"] = [owner_dn]
    if not changes:
        raise errors.EmptyModlist()
    # The last-token plug-in runs before the backend checks the ACIs.
    if changes.get("ipatokenDisabled") == ["TRUE"]:
        _guard_last_token(call, entry, "disable")
    call.writes.replace(entry.dn, changes)
    entry = call.tree.directory.get(entry.dn)
    return {
        "result": _view(call, entry),
        "value": token_id,
        "summary": f'Modified OTP token "{token_id}"',
    }


@command("otptoken_del", ("continue",))
def otptoken_del(call: Call) -> dict[str, Any]:
    token_ids = _listed(call.arg())
    for token_id in token_ids:
        # LDAPDelete deletes without reading first (baseldap.py:1636-1670); 389-ds answers
        # a refused delete with 50, seen or not (back-ldbm/ldbm_delete.c).
        entry = _token(call, token_id)
        _guard_last_token(call, entry, "delete")
        call.writes.delete(entry.dn)
    joined = ",".join(token_ids)
    return {
        "result": {"failed": []},
        "value": token_ids,
        "summary": f'Deleted OTP token "{joined}"',
    }


def _change_managers(call: Call, adding: bool) -> dict[str, Any]:
    """otptoken.py:471-480 (LDAPAddMember / LDAPRemoveMember on managedBy), per member."""
    tree = call.tree
    entry = _token(call, str(call.arg() or ""))
    failed: list[list[str]] = []
    completed = 0
    op = ldap.MOD_ADD if adding else ldap.MOD_DELETE
    for value in _listed(call.options.get("user")):
        dn = tree.user_dn(normalize_name(value))
        if adding and tree.directory.get(dn) is None:
            failed.append([value, "no such entry"])
            continue
        try:
            call.writes.modify(entry.dn, [(op, "managedBy", [dn])])
        except errors.ACIError as refused:
            failed.append([value, refused.message])
        except ldap.TYPE_OR_VALUE_EXISTS:
            failed.append([value, "This entry is already a member"])
        except ldap.NO_SUCH_ATTRIBUTE:
            failed.append([value, "This entry is not a member"])
        else:
            completed += 1
    entry = tree.directory.get(entry.dn)
    # The entry is read back as the caller at the end (baseldap.py:1823-1828).
    if not call.can_read(entry):
        raise errors.not_found(str(call.arg()), "OTP token")
    failures = {"managedby": {"user": failed}}
    return {"completed": completed, "failed": failures, "result": _view(call, entry)}


@command("otptoken_add_managedby", ("user",))
def otptoken_add_managedby(call: Call) -> dict[str, Any]:
    return _change_managers(call, True)


@command("otptoken_remove_managedby", ("user",))
def otptoken_remove_managedby(call: Call) -> dict[str, Any]:
    return _change_managers(call, False)
