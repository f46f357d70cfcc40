"""An offboarding never gives up: while a system does not answer it waits, says so (its run page,
the dashboard, /healthz), and finishes by itself once the system answers."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from onboarding.errors import RunStopped, StepDeferred, TransientError
from onboarding.models import LifecycleRun, Person
from onboarding.runner import run_execute
from onboarding.runner.execute import run_defer
from onboarding.runner.fence import Fence
from onboarding.services import person_offboard
from tests.engine.conftest import onboard, person
from tests.factories import make_person, make_run

pytestmark = pytest.mark.django_db(transaction=True)

Kind = LifecycleRun.Kind
State = LifecycleRun.State

# Local accounts: no directory runs with these tests.
LOCAL = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def admin_browser() -> Client:
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", password="x"), LOCAL)
    return browser


def test_an_offboarding_outlasts_its_retries_and_finishes_by_itself(fake, team, settings):
    settings.CELERY_TASK_MAX_RETRIES = 1
    onboard("ned", team)
    fake.fail("account_set", TransientError("fake", "unavailable"), times=5)

    run = person_offboard(person=person("ned"), reason="left", actor="admin")

    run.refresh_from_db()
    assert (run.state, run.retries, run.error) == (State.SUCCEEDED, 5, "")
    assert person("ned").status == Person.Status.OFFBOARDED
    assert fake.accounts["ned"].disabled


def test_a_waiting_offboarding_says_so_everywhere_until_the_system_answers(
    fake, team, settings, monkeypatch, admin_browser
):
    settings.CELERY_TASK_MAX_RETRIES = 1
    onboard("ned", team)
    # The test is the worker: each try is run here, one at a time.
    monkeypatch.setattr("onboarding.services.runs.run_dispatch", lambda run_id, **_: True)
    run = person_offboard(person=person("ned"), reason="left", actor="admin")
    fake.reachable = False
    for _ in range(4):
        with pytest.raises(StepDeferred):
            run_execute(run_id=run.pk, worker="w@host:1")

    run.refresh_from_db()
    assert (run.state, run.retries) == (State.QUEUED, 4)
    assert run.error == (
        "waiting for a system to answer, tries again by itself: fake: cannot reach the fake "
        "directory"
    )
    page = admin_browser.get(f"/runs/{run.pk}/").content.decode()
    assert "This run waits for a system that did not answer (4 tries so far)" in page
    assert "it never gives up" in page
    dashboard = admin_browser.get("/").content.decode()
    assert "Offboardings waiting for a system" in dashboard
    assert f"/runs/{run.pk}/" in dashboard.split('id="offboardings-waiting"')[1]
    health = admin_browser.get("/healthz").json()
    assert (health["status"], health["offboardings_waiting"]) == ("degraded", 1)

    fake.reachable = True
    run_execute(run_id=run.pk, worker="w@host:1")

    run.refresh_from_db()
    assert (run.state, run.error) == (State.SUCCEEDED, "")
    assert person("ned").status == Person.Status.OFFBOARDED
    assert "Offboardings waiting" not in admin_browser.get("/").content.decode()
    assert admin_browser.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("kind", "state"),
    [(Kind.OFFBOARD, State.ROLLING_BACK), (Kind.ONBOARD, State.QUEUED), (Kind.MOVE, State.QUEUED)],
)
def test_what_gives_access_still_gives_up_after_its_retries(fake, team, settings, kind, state):
    settings.CELERY_TASK_MAX_RETRIES = 1
    status = Person.Status.OFFBOARDING if kind == Kind.OFFBOARD else Person.Status.ONBOARDING
    run = make_run(make_person("ned", team, status=status), kind=kind, state=state, retries=1)
    with pytest.raises(RunStopped):
        run_defer(run, "fake: unavailable", Fence(run))
    run.refresh_from_db()
    assert (run.state, run.error) == (State.FAILED, "gave up after 1 retries: fake: unavailable")
