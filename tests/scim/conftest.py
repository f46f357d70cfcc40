"""SCIM tests: an identity provider's requests through Django's test client with a SCIM token,
against the engine's fake system with eager Celery (tests/engine/conftest.py), so a run has run
when its request returns."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from api.models import ApiToken
from api.services import api_token_create
from tests.engine.conftest import fake, other_team, team  # noqa: F401 - shared fixtures

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class IdentityProvider:
    """A SCIM client sending one bearer token (or none) with every request."""

    def __init__(self, token: str = "") -> None:
        self.client = Client()
        if token:
            self.client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def get(self, path: str, headers: dict | None = None, **params):
        return self.client.get(f"/scim/v2{path}", params, headers=headers or {})

    def send(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        return getattr(self.client, method)(
            f"/scim/v2{path}", json.dumps(body) if body is not None else "",
            content_type="application/scim+json", headers=headers or {},
        )  # fmt: skip

    def post(self, path: str, body: dict, **kwargs):
        return self.send("post", path, body, **kwargs)

    def put(self, path: str, body: dict, **kwargs):
        return self.send("put", path, body, **kwargs)

    def patch(self, path: str, *operations: dict, **kwargs):
        return self.send(
            "patch", path, {"schemas": [PATCH], "Operations": list(operations)}, **kwargs
        )

    def delete(self, path: str, **kwargs):
        return self.send("delete", path, None, **kwargs)


def scim_token_for(name: str = "entra") -> str:
    return api_token_create(
        name=name, role="admin", team=None, expires_days=90, owner="", actor="cli:test",
        scope=ApiToken.Scope.SCIM,
    )[1]  # fmt: skip


@pytest.fixture
def idp(fake) -> IdentityProvider:  # noqa: F811
    return IdentityProvider(scim_token_for())


def user_body(user_name: str = "ada", *, department: str | None = None, **fields) -> dict:
    body = {
        "schemas": [USER, ENTERPRISE] if department else [USER],
        "userName": user_name,
        "externalId": f"ext-{user_name}",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": f"{user_name.split('@')[0]}@example.org", "type": "work",
                    "primary": True}],
        "active": True,
        **fields,
    }  # fmt: skip
    if department:
        body[ENTERPRISE] = {"department": department}
    return body


def member(scim_id: str) -> dict:
    return {"value": scim_id}
