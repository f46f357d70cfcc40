"""Who is asking: a bearer token, with the rights of its role as the web UI's `Access` has them
(a lead token's are those of a lead of its one team). No session counts here."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from api.models import ApiToken
from api.services import api_token_use
from onboarding.access import Access
from onboarding.audit import audit_record
from onboarding.errors import TokenRefused


class BearerToken(HttpBearer):
    def __call__(self, request: HttpRequest) -> ApiToken:
        if not request.headers.get("Authorization", "").lower().startswith("bearer "):
            raise TokenRefused("Send a token: Authorization: Bearer <token>.")
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        return api_token_use(token.strip(), path=request.path, method=request.method)


def token_access(token: ApiToken) -> Access:
    if token.role == ApiToken.Role.ADMIN:
        return Access(user_id=None, username=token.actor, is_admin=True, led_team_ids=frozenset())
    return Access(
        user_id=None, username=token.actor, is_admin=False, led_team_ids=frozenset({token.team_id})
    )


def denial_record(request: HttpRequest, reason: str) -> None:
    audit_record(
        actor=request.auth.actor, action="access.denied", target=request.path[:255],
        outcome="denied", details={"method": request.method, "reason": reason},
    )  # fmt: skip
