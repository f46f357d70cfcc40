"""AWS throttles writes: IAM answers Throttling above its rate. Onboardings through a real worker
back off and all succeed, each wait recorded as a retried step the run page shows."""

from __future__ import annotations

import time

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client

from onboarding.models import AuditEvent, LifecycleRun
from tests.lifecycle.conftest import onboard, unique
from tests.lifecycle.observe import roles

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

PEOPLE = 4


@pytest.fixture
def iam_throttled(stack_configured):
    control = f"{stack_configured['AWS_ENDPOINT_URL']}/sandbox-api/throttle"
    requests.post(control, json={"iam": 2}, timeout=10).raise_for_status()
    try:
        yield control
    finally:
        requests.post(control, json={}, timeout=10).raise_for_status()


def test_onboardings_under_iam_throttling_back_off_and_all_succeed(
    lifecycle_worker, lifecycle_worker_env, team, iam_throttled
):
    runs = [onboard(unique("thr"), team) for _ in range(PEOPLE)]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        states = set(
            LifecycleRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("state", flat=True)
        )
        if states <= {LifecycleRun.State.SUCCEEDED, LifecycleRun.State.FAILED}:
            break
        time.sleep(1)
    refused = requests.get(iam_throttled, timeout=10).json()["refused"].get("iam", 0)

    for run in runs:
        run.refresh_from_db()
        assert run.state == LifecycleRun.State.SUCCEEDED, (run.pk, run.state, run.error)
    assert refused > 0, "IAM was never throttled: the test proved nothing"
    waits = AuditEvent.objects.filter(
        run__in=runs, action="step.do", outcome="retried", details__error__icontains="Throttling"
    )
    assert waits.exists()
    for run in runs:
        assert len(roles(lifecycle_worker_env, run.person.username)) == 1, run.person.username
    waited = waits.first().run
    admin = get_user_model().objects.create_superuser(unique("root"), password=None)
    client = Client()
    client.force_login(admin, "django.contrib.auth.backends.ModelBackend")
    page = client.get(f"/runs/{waited.pk}/").content.decode()
    assert "Throttling" in page
    print(f"\n{PEOPLE} onboardings under IAM at 2 writes/s: {refused} writes throttled, "
          f"{waits.count()} step waits, all succeeded")  # fmt: skip
