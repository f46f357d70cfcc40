"""What you preview is what you get: a preview hands the page a signed token of exactly what it
showed (the action and its inputs); the action is done only with a token matching the inputs
sent with it. Changed inputs, a stale token or none at all mean: look at a new preview first."""

from __future__ import annotations

from django.core import signing

SALT = "accessadmin.preview"
MAX_AGE_SECONDS = 15 * 60


def preview_token(kind: str, fields: dict[str, str]) -> str:
    return signing.dumps({"kind": kind, "fields": _normal(fields)}, salt=SALT, compress=True)


def preview_matches(token: str, kind: str, fields: dict[str, str]) -> bool:
    try:
        shown = signing.loads(token or "", salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return False
    return shown == {"kind": kind, "fields": _normal(fields)}


def _normal(fields: dict[str, str]) -> dict[str, str]:
    # A field left empty is the same as a field the form does not have (an optional date).
    return {
        name: str(value).strip()
        for name, value in sorted(fields.items())
        if value is not None and str(value).strip()
    }


NOT_PREVIEWED = (
    "This is not what the preview showed (the form changed since, or the preview is more than "
    "15 minutes old): check the new preview below, then confirm. Nothing was changed."
)
