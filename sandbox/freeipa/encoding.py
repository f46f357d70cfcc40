"""FreeIPA's JSON encoding of LDAP values: lists of strings, dates and bytes wrapped."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

GENERALIZED_TIME = "%Y%m%d%H%M%SZ"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def to_generalized(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(GENERALIZED_TIME)


def from_generalized(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, GENERALIZED_TIME).replace(tzinfo=dt.UTC)


def datetime_value(value: str) -> dict[str, str]:
    return {"__datetime__": value}


def base64_value(value: bytes) -> dict[str, str]:
    return {"__base64__": base64.b64encode(value).decode("ascii")}


def decode_value(value: Any) -> Any:
    """Unwrap `__base64__` / `__datetime__` objects a client may send."""
    if isinstance(value, dict):
        if "__base64__" in value:
            return base64.b64decode(value["__base64__"])
        if "__datetime__" in value:
            return from_generalized(value["__datetime__"])
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    return value
