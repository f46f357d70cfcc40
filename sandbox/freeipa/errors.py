"""FreeIPA's public errors: the code, class name and message format a client sees."""

from __future__ import annotations

from typing import Any


class PublicError(Exception):
    """An error FreeIPA reports inside the JSON envelope (HTTP 200, `error` set)."""

    code = 900
    name = "PublicError"
    text = "%(message)s"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        self.data = data
        self.message = message if message is not None else self.text % data
        super().__init__(self.message)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data, "name": self.name}


def _error(name: str, code: int, text: str) -> type[PublicError]:
    return type(name, (PublicError,), {"code": code, "name": name, "text": text})


VersionError = _error(
    "VersionError", 901, "%(cver)s client incompatible with %(sver)s server at '%(server)s'"
)
InternalError = _error("InternalError", 903, "an internal error has occurred")
CommandError = _error("CommandError", 905, "unknown command '%(name)s'")
JSONError = _error("JSONError", 909, "Invalid JSON-RPC request: %(error)s")
RefererError = _error("RefererError", 911, "Missing or invalid HTTP Referer, %(referer)s")
ACIError = _error("ACIError", 2100, "Insufficient access: %(info)s")
InvocationError = _error("InvocationError", 3000, "%(message)s")
OptionError = _error("OptionError", 3005, "Unknown option: %(option)s")
OverlapError = _error("OverlapError", 3006, "overlapping arguments and options: %(names)s")
RequirementError = _error("RequirementError", 3007, "'%(name)s' is required")
ConversionError = _error("ConversionError", 3008, "invalid '%(name)s': %(error)s")
ValidationError = _error("ValidationError", 3009, "invalid '%(name)s': %(error)s")
ExecutionError = _error("ExecutionError", 4000, "%(message)s")
NotFound = _error("NotFound", 4001, "%(reason)s")
DuplicateEntry = _error("DuplicateEntry", 4002, "This entry already exists")
AlreadyActive = _error("AlreadyActive", 4009, "This entry is already enabled")
AlreadyInactive = _error("AlreadyInactive", 4010, "This entry is already disabled")
DefaultGroupError = _error("DefaultGroupError", 4018, "The default users group cannot be removed")
ManagedGroupError = _error(
    "ManagedGroupError",
    4020,
    "Deleting a managed entry is not allowed. It needs to be manually unlinked first.",
)
ManagedGroupExistsError = _error(
    "ManagedGroupExistsError",
    4024,
    "Unable to create private group. A group '%(group)s' already exists.",
)
EmptyModlist = _error("EmptyModlist", 4202, "no modifications to be performed")
DatabaseError = _error("DatabaseError", 4203, "%(desc)s: %(info)s")
InvalidSyntax = _error("InvalidSyntax", 4208, "%(attr)s: Invalid syntax.")
LastMemberError = _error(
    "LastMemberError",
    4308,
    "%(key)s cannot be deleted or disabled because it is the last member of "
    "%(label)s %(container)s",
)
ProtectedEntryError = _error(
    "ProtectedEntryError", 4309, "%(label)s %(key)s cannot be deleted/modified: %(reason)s"
)


def not_found(key: str, label: str) -> PublicError:
    reason = f"{key}: {label} not found"
    return NotFound(reason=reason)


def write_denied(attribute: str, dn: str) -> PublicError:
    return ACIError(
        info=f"Insufficient 'write' privilege to the '{attribute}' attribute of entry '{dn}'."
    )
