"""Engine tests: the lifecycle engine driven through a fake system, with PostgreSQL only.

No local stack, no broker: Celery runs tasks in this process as they are queued (eager), and
the only downstream system is `tests.engine.fake.FakeSystem`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accessadmin.celery import app as celery_app
from onboarding.models import LifecycleRun, Person, Team
from onboarding.services import person_onboard
from onboarding.systems import system, systems_reset
from tests.engine.fake import FakeDirectory
from tests.factories import make_team


@pytest.fixture
def fake(settings) -> Iterator[FakeDirectory]:
    settings.ACCESSADMIN_SYSTEMS = ["tests.engine.fake.FakeSystem"]
    settings.LIFECYCLE_RETRY_BASE_SECONDS = 0
    systems_reset()
    eager_before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield system("fake").client
    finally:
        celery_app.conf.task_always_eager = eager_before
        systems_reset()


@pytest.fixture
def team(fake) -> Team:
    return make_team("vision")


@pytest.fixture
def other_team(fake) -> Team:
    return make_team("nlp")


def onboard(username: str, team: Team) -> LifecycleRun:
    """Ask for an onboarding as an admin would; it has run when this returns."""
    run = person_onboard(
        username=username, first_name="Ada", last_name="Example",
        email=f"{username}@example.test", team=team, actor="admin",
    )  # fmt: skip
    run.refresh_from_db()
    return run


def person(username: str) -> Person:
    return Person.objects.select_related("team").get(username=username)
