"""Making, using and revoking API tokens, and replaying a request made again with its
Idempotency-Key. Lifecycle requests themselves go through onboarding.services."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import ApiToken, IdempotencyKey
from onboarding.access import rights_now_refusal
from onboarding.audit import audit_record
from onboarding.errors import IdempotencyKeyReused, InvalidInput, TokenRefused
from onboarding.models import Team
from onboarding.validation import username_fold

TOKEN_PREFIX = "aa_"  # noqa: S105 - not a secret: it tells a leaked token for what it is
IDEMPOTENCY_WINDOW = timedelta(hours=24)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_owner_refusal(*, owner: str, role: str, team: Team | None) -> str:
    """Why `owner` may not hold a token of this role now ("" when they may)."""
    return rights_now_refusal(owner, team=None if role == ApiToken.Role.ADMIN else team)


def api_token_create(
    *, name: str, role: str, team: Team | None, expires_days: int, owner: str, actor: str,
    scope: str = ApiToken.Scope.API,
) -> tuple[ApiToken, str]:  # fmt: skip
    """A new token and its secret, which is not kept and cannot be shown again. `owner` is the
    directory account it acts for, which must hold the role's rights; "" makes a service token
    of the platform admins. A `scope` "scim" token works at /scim/v2/ only, and only there."""
    owner = username_fold(owner) if owner and owner.strip() else ""
    if not _NAME.fullmatch(name or ""):
        raise InvalidInput(
            "A token's name is 1 to 64 lower-case letters, digits, '-' or '_', starting with a "
            "letter or digit."
        )
    if ApiToken.objects.filter(name=name).exists():
        raise InvalidInput(
            f"There is a token named {name!r} already (names are never reused, revoked tokens' "
            "included); choose another name."
        )
    if role not in ApiToken.Role.values:
        raise InvalidInput(f"A token's role is admin or lead, not {role!r}.")
    if role == ApiToken.Role.LEAD and team is None:
        raise InvalidInput("A lead token acts for one team: name it (--team).")
    if role == ApiToken.Role.ADMIN and team is not None:
        raise InvalidInput("An admin token acts on every team; it takes no --team.")
    if scope not in ApiToken.Scope.values:
        raise InvalidInput(f"A token's scope is api or scim, not {scope!r}.")
    if scope == ApiToken.Scope.SCIM and role != ApiToken.Role.ADMIN:
        raise InvalidInput(
            "A SCIM token provisions every team, as the identity provider does: its role is admin."
        )
    longest = settings.API_TOKEN_MAX_DAYS
    if not 1 <= expires_days <= longest:
        raise InvalidInput(f"A token expires after 1 to {longest} days (API_TOKEN_MAX_DAYS).")
    if owner:
        refusal = token_owner_refusal(owner=owner, role=role, team=team)
        if refusal:
            raise InvalidInput(f"The token cannot be {owner}'s: {refusal}. Nothing was made.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name, role=role, scope=scope, team=team, token_hash=token_hash(secret),
            prefix=secret[: len(TOKEN_PREFIX) + 6], owner=owner, created_by=actor,
            expires_at=timezone.now() + timedelta(days=expires_days),
        )  # fmt: skip
        audit_record(
            actor=actor, action="api_token.create", target=token.name, outcome="succeeded",
            details={
                "role": role, "scope": scope, "team": team.name if team else None,
                "prefix": token.prefix,
                "owner": owner or None, "expires_at": token.expires_at.isoformat(),
            },
        )  # fmt: skip
    return token, secret


def api_token_revoke(*, name: str, actor: str) -> ApiToken:
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise InvalidInput(f"There is no token named {name!r}.")
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not revoked:
            raise InvalidInput(f"The token {name!r} is revoked already.")
        audit_record(
            actor=actor, action="api_token.revoke", target=token.name, outcome="succeeded",
            details={"prefix": token.prefix},
        )  # fmt: skip
    token.refresh_from_db()
    return token


def api_token_use(
    secret: str, *, path: str, method: str, scope: str = ApiToken.Scope.API
) -> ApiToken:
    """The token this secret is, if it may be used now and here (its `scope`); its use is
    noted."""
    token = ApiToken.objects.select_related("team").filter(token_hash=token_hash(secret)).first()
    if token is None:
        raise TokenRefused("The bearer token is not known.")
    if token.scope != scope:
        _use_refuse(token, path=path, method=method, reason=f"a {token.scope} token")
        where = "/scim/v2/" if token.scope == ApiToken.Scope.SCIM else "/api/v1/"
        raise TokenRefused(
            f"The bearer token {token.prefix}… is a {token.get_scope_display()} token: it works "
            f"at {where} only."
        )
    if token.status != "active":
        _use_refuse(token, path=path, method=method, reason=f"token {token.status}")
        raise TokenRefused(f"The bearer token {token.prefix}… is {token.status}.")
    if token.owner:
        refusal = token_owner_refusal(owner=token.owner, role=token.role, team=token.team)
        if refusal:
            _use_refuse(token, path=path, method=method, reason=f"token owner: {refusal}")
            raise TokenRefused(f"The bearer token {token.prefix}… works no more: {refusal}.")
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
    return token


def _use_refuse(token: ApiToken, *, path: str, method: str, reason: str) -> None:
    # Someone still holds a token that should be out of use: worth a line in the trail.
    audit_record(
        actor=token.actor, action="access.denied", target=path[:255], outcome="denied",
        details={"method": method, "reason": reason},
    )  # fmt: skip


def request_fingerprint(path: str, body: dict) -> str:
    return hashlib.sha256(json.dumps([path, body], sort_keys=True).encode()).hexdigest()


def idempotent_answer(
    *, token: ApiToken, key: str, fingerprint: str, answer: Callable[[], tuple[int, dict]]
) -> tuple[int, dict]:
    """`answer()`'s status and body, or, when this token sent this key within 24 h, the first
    answer again without calling it. Only accepted requests are kept: a refused one changed
    nothing, and may be sent again with the same key."""
    if not key:
        return answer()
    if len(key) > 255:
        raise InvalidInput("An Idempotency-Key is at most 255 characters.")
    with transaction.atomic():
        token.idempotency_keys.filter(created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW).delete()
        try:
            with transaction.atomic():
                # The same key sent at once waits here until the first request commits.
                record = IdempotencyKey.objects.create(
                    token=token, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            record = IdempotencyKey.objects.get(token=token, key=key)
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was sent with a different request in the last 24 "
                    "hours; use a new key for a new request."
                ) from None
            return record.status_code, record.response
        status, body = answer()
        record.status_code, record.response = status, body
        record.run_id = body.get("id")
        record.save(update_fields=["status_code", "response", "run"])
    return status, body
