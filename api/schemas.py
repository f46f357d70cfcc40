"""What the API reads and answers, as the OpenAPI document shows it. Requests carry plain
strings: the services check them and say what is wrong in the words the web UI uses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator


class Error(Schema):
    error: str


HAND_OVER_TO = (
    "Who gets the new account's first credentials. With e-mail configured (and enrolment on, the "
    "default), nobody: the person is e-mailed a one-time link to set up their own login, and "
    "this user is only told how the run went. Otherwise the username of an AccessAdmin user (an "
    "admin, or a lead of the team) who reveals the one-time credentials in the web UI, to hand "
    "them over; without one, a lead of the person's team or a platform admin reveals them from "
    "the run's page."
)


class Request(Schema):
    """A request body. A NUL character can be neither stored nor shown: refused in any field,
    named in the 400, before a service sees it."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("holds a NUL character")
        return value


class Onboarding(Request):
    username: str
    first_name: str
    last_name: str
    email: str
    team: str
    # YYYY-MM-DD, as the CSV columns. A start date still to come records the person as waiting
    # for it, with no run yet; their onboarding starts that day. They are offboarded on end_date.
    start_date: date | None = None
    end_date: date | None = None
    hand_over_to: str | None = Field(None, description=HAND_OVER_TO)


class OnboardingAccepted(Schema):
    """An onboarding started now: `state` is the run's, `id` and `url` are the run's. One that
    waits for its start date: `state` is "waiting", `id` is null (no run yet), `url` is the
    person's, and `waits_for_start` is true."""

    id: int | None
    state: str
    kind: str
    person: str
    url: str
    start_date: date | None
    end_date: date | None
    waits_for_start: bool


class CredentialReset(Request):
    username: str
    hand_over_to: str | None = Field(None, description=HAND_OVER_TO)


class PersonDates(Request):
    """Only the dates sent change; null clears one. The start date changes only while the person
    waits for it; an end date may not be in the past nor before the start date."""

    model_config = ConfigDict(extra="forbid")

    start_date: date | None = None
    end_date: date | None = None


class Offboarding(Request):
    username: str
    reason: str


class Move(Request):
    username: str
    team: str


class Reinstatement(Request):
    username: str
    reason: str
    # Another team to come back into; the team they left when omitted.
    team: str | None = None
    hand_over_to: str | None = Field(None, description=HAND_OVER_TO)


class RunAccepted(Schema):
    id: int
    state: str
    kind: str
    person: str
    url: str


class StepOut(Schema):
    name: str
    state: str
    attempts: int
    last_error: str
    started_at: datetime | None
    finished_at: datetime | None


class RunSummary(Schema):
    id: int
    kind: str
    state: str
    actor: str
    created_at: datetime
    finished_at: datetime | None


class RunOut(RunSummary):
    person: str
    team: str
    params: dict
    error: str
    started_at: datetime | None
    steps: list[StepOut]


class PersonOut(Schema):
    username: str
    first_name: str
    last_name: str
    email: str
    team: str
    status: str
    start_date: date | None
    # Recorded with a start date still to come: no run until that day.
    waits_for_start: bool
    end_date: date | None
    created_at: datetime
    updated_at: datetime


class SystemStateOut(Schema):
    system: str
    present: bool | None
    summary: str
    error: str


class PersonDetail(PersonOut):
    runs: list[RunSummary]
    systems: list[SystemStateOut] | None = None


class PeoplePage(Schema):
    items: list[PersonOut]
    page: int
    pages: int
    count: int


class TeamOut(Schema):
    name: str
    freeipa_group: str
    jupyterhub_group: str
    iam_policy_arns: list[str]
    # Each enabled system's team settings, {system: {setting: value}} (docs/adding-a-system.md).
    system_settings: dict[str, dict[str, Any]]
    leads: list[str]
    members: int


class AuditEventOut(Schema):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    run: int | None
    details: dict


class AuditPage(Schema):
    items: list[AuditEventOut]
    next_before: int | None
