"""Onboarding, offboarding, moving, reinstating, resuming and rolling back through the API."""

import pytest

from api.models import IdempotencyKey
from onboarding.errors import PermanentError
from onboarding.models import AuditEvent, LifecycleRun, Person
from tests.api.conftest import newcomer

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_onboarding_is_accepted_and_followed_to_success(hr, fake, team):
    answer = hr.post("/onboardings", newcomer("ada"))
    assert answer.status_code == 202, answer.content
    accepted = answer.json()
    assert (accepted["state"], accepted["kind"], accepted["person"]) == ("queued", "onboard", "ada")
    run = hr.get(accepted["url"].removeprefix("/api/v1")).json()
    assert (run["id"], run["state"], run["error"]) == (accepted["id"], "succeeded", "")
    assert [(s["name"], s["state"]) for s in run["steps"]] == [
        ("fake_account", "done"), ("fake_key", "done"), ("fake_team", "done"),
    ]  # fmt: skip
    assert fake.accounts["ada"].team == "vision"
    person = hr.get("/people/ada").json()
    assert (person["status"], person["runs"][0]["id"]) == ("active", accepted["id"])
    event = AuditEvent.objects.get(action="onboard.request", target="ada")
    assert event.actor == "api:hr-system"


def test_offboarding_moving_and_reinstating_through_the_api(hr, fake, team, other_team):
    hr.post("/onboardings", newcomer("bea"))
    moved = hr.post("/moves", {"username": "bea", "team": "nlp"})
    assert moved.status_code == 202
    assert fake.accounts["bea"].team == "nlp"
    left = hr.post("/offboardings", {"username": "BEA", "reason": "contract ended"})
    assert (left.status_code, left.json()["kind"]) == (202, "offboard")
    assert Person.objects.get(username="bea").status == Person.Status.OFFBOARDED
    back = hr.post("/reinstatements", {"username": "bea", "reason": "rehired"})
    assert back.status_code == 202
    assert hr.get(f"/runs/{back.json()['id']}").json()["state"] == "succeeded"
    actors = set(AuditEvent.objects.filter(target="bea").values_list("actor", flat=True))
    assert "api:hr-system" in actors and "admin" not in actors


def test_a_retried_request_with_the_same_key_starts_one_run(hr, fake, team):
    first = hr.post("/onboardings", newcomer("cal"), key="hr-row-17")
    again = hr.post("/onboardings", newcomer("cal"), key="hr-row-17")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert LifecycleRun.objects.filter(person__username="cal").count() == 1
    assert fake.calls["account_create"] == 1
    other_body = hr.post("/onboardings", newcomer("cal", first_name="Cal"), key="hr-row-17")
    assert other_body.status_code == 422
    assert "different request" in other_body.json()["error"]
    assert IdempotencyKey.objects.get(key="hr-row-17").run_id == first.json()["id"]


def test_a_refused_request_keeps_no_key_and_may_be_sent_again(hr, fake, team):
    refused = hr.post("/onboardings", newcomer("dee", team="astro"), key="k1")
    assert refused.status_code == 400
    assert refused.json() == {"error": "There is no team 'astro' (teams: vision)."}
    assert not IdempotencyKey.objects.exists()
    corrected = hr.post("/onboardings", newcomer("dee"), key="k1")
    assert corrected.status_code == 202
    assert IdempotencyKey.objects.get(key="k1").run_id == corrected.json()["id"]


def test_bad_input_is_400_with_the_uis_message_and_changes_nothing(hr, fake, team):
    answer = hr.post("/onboardings", newcomer("eve", email="not-an-address"))
    assert answer.status_code == 400
    assert "email" in answer.json()["error"].lower()
    missing = hr.post("/onboardings", {"username": "eve", "team": "vision"})
    assert missing.status_code == 400
    assert missing.json()["error"].startswith("The request is not valid: first_name")
    no_reason = hr.post("/offboardings", {"username": "nobody", "reason": ""})
    assert no_reason.json() == {"error": "AccessAdmin knows no person 'nobody'."}
    assert no_reason.status_code == 404
    assert not Person.objects.exists() and not LifecycleRun.objects.exists()
    assert fake.calls.total() == 0


def test_a_known_person_or_a_busy_one_is_409(hr, fake, team):
    hr.post("/onboardings", newcomer("fay"))
    again = hr.post("/onboardings", newcomer("fay"))
    assert (again.status_code, again.json()) == (
        409, {"error": "'fay' is already known to AccessAdmin (Active)."},
    )  # fmt: skip
    fake.fail("account_set", PermanentError("fake", "refused"))
    failed = hr.post("/offboardings", {"username": "fay", "reason": "left"}).json()
    assert hr.get(f"/runs/{failed['id']}").json()["state"] == "failed"
    busy = hr.post("/moves", {"username": "fay", "team": "vision"})
    assert busy.status_code == 400  # a failed offboarding leaves them offboarding, not active


def test_a_failed_run_is_resumed_or_rolled_back(hr, fake, team):
    fake.fail("account_set", PermanentError("fake", "refused"))
    run = hr.post("/onboardings", newcomer("gus")).json()
    assert hr.get(f"/runs/{run['id']}").json()["state"] == "failed"
    resumed = hr.post(f"/runs/{run['id']}/resume")
    assert resumed.status_code == 202
    assert hr.get(f"/runs/{run['id']}").json()["state"] == "succeeded"
    again = hr.post(f"/runs/{run['id']}/rollback")
    assert (again.status_code, again.json()["error"]) == (
        400, f"Run #{run['id']} is succeeded; only a failed run can be rolled back.",
    )  # fmt: skip


def test_too_many_requests_is_429_with_retry_after(hr, fake, team, settings):
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 1
    hr.post("/onboardings", newcomer("hal"))
    limited = hr.post("/onboardings", newcomer("ivy"))
    assert limited.status_code == 429
    assert limited.json()["error"].startswith("api:hr-system asked for 1 runs in the last hour")
    assert 3500 < int(limited["Retry-After"]) <= 3600
    assert not Person.objects.filter(username="ivy").exists()
