"""API tests: requests through Django's test client with bearer tokens, against the engine's
fake system with eager Celery (tests/engine/conftest.py), so a run has run when its request
returns."""

from __future__ import annotations

import pytest
from django.test import Client

from api.services import api_token_create
from onboarding.models import Team
from tests.engine.conftest import fake, other_team, team  # noqa: F401 - shared fixtures


class Caller:
    """A client that sends one token (or none) with every request."""

    def __init__(self, token: str = "") -> None:
        self.client = Client()
        self.token = token
        if token:
            self.client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params)

    def post(self, path: str, body: dict | None = None, *, key: str = ""):
        headers = {"Idempotency-Key": key} if key else {}
        return self.client.post(
            f"/api/v1{path}", body or {}, content_type="application/json", headers=headers
        )

    def patch(self, path: str, body: dict):
        return self.client.patch(f"/api/v1{path}", body, content_type="application/json")


def token_for(name: str, role: str = "admin", of_team: Team | None = None, days: int = 90) -> str:
    return api_token_create(
        name=name, role=role, team=of_team, expires_days=days, owner="", actor="cli:test"
    )[1]


@pytest.fixture
def hr(fake) -> Caller:  # noqa: F811
    """The HR system's admin token."""
    return Caller(token_for("hr-system"))


@pytest.fixture
def vision_lead(team) -> Caller:  # noqa: F811
    return Caller(token_for("vision-script", "lead", team))


def newcomer(username: str = "ada", **fields) -> dict:
    return {
        "username": username, "first_name": "Ada", "last_name": "Lovelace",
        "email": f"{username}@example.test", "team": "vision", **fields,
    }  # fmt: skip
