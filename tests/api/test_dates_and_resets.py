"""Onboarding with start and end dates, changing a person's dates, and resetting a person's
password and OTP token through the API: the web UI's rules and words, audited with the token."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from api.models import IdempotencyKey
from onboarding.directory import DirectoryRights
from onboarding.models import AuditEvent, LifecycleRun, Person
from tests.api.conftest import newcomer
from tests.factories import make_person

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def today(clock) -> date:
    """Today's date, held for the whole test so that no test straddles midnight."""
    return clock.day(timezone.localdate())


def day(offset: int) -> str:
    """A date counted from today as a file or a request writes it, read when called."""
    return str(timezone.localdate() + timedelta(days=offset))


@pytest.fixture
def ordinary_members(monkeypatch):
    # The directory is not part of these tests; it says nobody is an admin or a lead.
    monkeypatch.setattr(
        "onboarding.access.rights_find", lambda username: DirectoryRights(True, False, False, ())
    )


def test_an_onboarding_with_a_start_date_to_come_waits_with_no_run(hr, fake, team):
    body = newcomer("ada", start_date=day(10), end_date=day(200))
    answer = hr.post("/onboardings", body, key="hr-ada")
    assert answer.status_code == 202, answer.content
    assert answer.json() == {
        "id": None, "state": "waiting", "kind": "onboard", "person": "ada",
        "url": "/api/v1/people/ada", "start_date": day(10), "end_date": day(200),
        "waits_for_start": True,
    }  # fmt: skip
    assert hr.post("/onboardings", body, key="hr-ada").json() == answer.json()
    assert not LifecycleRun.objects.exists() and "ada" not in fake.accounts
    shown = hr.get("/people/ada").json()
    assert (shown["status"], shown["waits_for_start"], shown["start_date"]) == (
        "new", True, day(10),
    )  # fmt: skip
    assert AuditEvent.objects.get(action="onboard.schedule", target="ada").actor == "api:hr-system"
    assert IdempotencyKey.objects.get(key="hr-ada").run_id is None


def test_an_onboarding_starting_today_runs_and_keeps_its_end_date(hr, fake, team):
    answer = hr.post("/onboardings", newcomer("bea", start_date=day(0), end_date=day(30)))
    assert answer.status_code == 202
    accepted = answer.json()
    assert (accepted["state"], accepted["waits_for_start"], accepted["end_date"]) == (
        "queued", False, day(30),
    )  # fmt: skip
    assert hr.get(f"/runs/{accepted['id']}").json()["state"] == "succeeded"


def test_bad_onboarding_dates_are_400_and_change_nothing(hr, fake, team):
    past_end = hr.post("/onboardings", newcomer("cy", end_date=day(-1)))
    assert past_end.json() == {
        "error": f"The end date {day(-1)} is in the past; nothing was changed."
    }
    backwards = hr.post("/onboardings", newcomer("cy", start_date=day(9), end_date=day(8)))
    assert backwards.status_code == 400
    assert "before the start date" in backwards.json()["error"]
    not_a_date = hr.post("/onboardings", newcomer("cy", start_date="01/12/2027"))
    assert not_a_date.status_code == 400
    assert not_a_date.json()["error"].startswith("The request is not valid: start_date")
    assert not Person.objects.exists()


def test_dates_are_set_cleared_and_a_past_end_date_refused(hr, fake, team):
    hr.post("/onboardings", newcomer("dee"))
    changed = hr.patch("/people/dee", {"end_date": day(60)})
    assert (changed.status_code, changed.json()["end_date"]) == (200, day(60))
    event = AuditEvent.objects.get(action="person.dates", target="dee")
    assert (event.actor, event.details) == (
        "api:hr-system", {"end_date": {"before": None, "after": day(60)}},
    )  # fmt: skip
    past = hr.patch("/people/dee", {"end_date": day(-2)})
    assert (past.status_code, past.json()) == (
        400, {"error": f"The end date {day(-2)} is in the past; nothing was changed."},
    )  # fmt: skip
    started = hr.patch("/people/dee", {"start_date": day(5)})
    assert started.status_code == 400
    assert "not waiting for a start date" in started.json()["error"]
    cleared = hr.patch("/people/dee", {"end_date": None})
    assert cleared.json()["end_date"] is None
    assert hr.patch("/people/dee", {}).status_code == 400
    other_field = hr.patch("/people/dee", {"first_name": "Dora"})
    assert other_field.status_code == 400
    assert "first_name" in other_field.json()["error"]
    assert Person.objects.get(username="dee").first_name == "Ada"
    assert AuditEvent.objects.filter(action="person.dates").count() == 2


def test_a_waiting_persons_start_date_moves(hr, fake, team):
    hr.post("/onboardings", newcomer("eve", start_date=day(10)))
    moved = hr.patch("/people/eve", {"start_date": day(3), "end_date": day(40)})
    assert (moved.json()["start_date"], moved.json()["end_date"]) == (day(3), day(40))
    before_start = hr.patch("/people/eve", {"end_date": day(2)})
    assert "before the start date" in before_start.json()["error"]
    no_start = hr.patch("/people/eve", {"start_date": None})
    assert no_start.status_code == 400
    assert Person.objects.get(username="eve").start_date == date.fromisoformat(day(3))


def test_a_lead_token_sets_dates_of_its_own_teams_members_only(
    hr, vision_lead, fake, team, other_team, monkeypatch, ordinary_members
):
    hr.post("/onboardings", newcomer("fay"))
    hr.post("/onboardings", newcomer("nia", team="nlp"))
    assert vision_lead.patch("/people/fay", {"end_date": day(20)}).status_code == 200
    elsewhere = vision_lead.patch("/people/nia", {"end_date": day(20)})
    assert elsewhere.status_code == 404
    monkeypatch.setattr(
        "onboarding.access.rights_find", lambda username: DirectoryRights(True, False, True, ())
    )
    lead = vision_lead.patch("/people/fay", {"end_date": day(21)})
    assert lead.status_code == 403
    assert "only a platform admin can change their dates" in lead.json()["error"]
    assert Person.objects.get(username="fay").end_date == date.fromisoformat(day(20))
    assert Person.objects.get(username="nia").end_date is None
    assert hr.patch("/people/fay", {"end_date": day(21)}).status_code == 200


def test_a_credential_reset_is_accepted_once_per_key_and_audited(hr, fake, team):
    hr.post("/onboardings", newcomer("gus"))
    before = fake.accounts["gus"].secret
    first = hr.post("/credential-resets", {"username": "GUS"}, key="reset-gus-1")
    assert first.status_code == 202, first.content
    assert (first.json()["kind"], first.json()["person"]) == ("reset", "gus")
    again = hr.post("/credential-resets", {"username": "GUS"}, key="reset-gus-1")
    assert again.json() == first.json()
    assert LifecycleRun.objects.filter(person__username="gus", kind="reset").count() == 1
    assert hr.get(f"/runs/{first.json()['id']}").json()["state"] == "succeeded"
    assert fake.accounts["gus"].secret != before
    event = AuditEvent.objects.get(action="reset.request", target="gus")
    assert event.actor == "api:hr-system"


def test_a_credential_reset_of_someone_unknown_or_not_active_is_refused(hr, fake, team):
    unknown = hr.post("/credential-resets", {"username": "nobody"})
    assert (unknown.status_code, unknown.json()) == (
        404, {"error": "AccessAdmin knows no person 'nobody'."},
    )  # fmt: skip
    hr.post("/onboardings", newcomer("hal", start_date=day(5)))
    waiting = hr.post("/credential-resets", {"username": "hal"})
    assert waiting.status_code == 400
    assert "only an active person's password" in waiting.json()["error"]
    assert not LifecycleRun.objects.exists()


def test_a_lead_token_resets_only_its_own_teams_members(
    hr, vision_lead, fake, team, other_team, ordinary_members
):
    hr.post("/onboardings", newcomer("ivy"))
    hr.post("/onboardings", newcomer("nia", team="nlp"))
    elsewhere = vision_lead.post("/credential-resets", {"username": "nia"})
    assert (elsewhere.status_code, elsewhere.json()) == (
        404, {"error": "AccessAdmin knows no person 'nia'."},
    )  # fmt: skip
    assert not LifecycleRun.objects.filter(kind="reset").exists()
    denial = AuditEvent.objects.get(action="access.denied")
    assert (denial.actor, denial.details["reason"]) == ("api:vision-script", "outside its team")
    own = vision_lead.post("/credential-resets", {"username": "ivy"})
    assert own.status_code == 202
    assert AuditEvent.objects.get(action="reset.request").actor == "api:vision-script"


def test_a_named_lead_is_told_and_reveals_the_credentials_of_an_api_run(
    hr, fake, team, client, ordinary_members
):
    from django.contrib.auth import get_user_model

    from onboarding.credentials import credential_store

    lead = get_user_model().objects.create_user("lea", email="lea@example.test")
    team.leads.add(lead)
    hr.post("/onboardings", newcomer("kim"))
    reset = hr.post("/credential-resets", {"username": "kim", "hand_over_to": "lea"})
    assert reset.status_code == 202, reset.content
    run = LifecycleRun.objects.get(pk=reset.json()["id"])
    assert run.requested_by == lead
    credential_store(run=run, kind="temporary_password", secret="Handed-over-1")

    client.force_login(lead, "django.contrib.auth.backends.ModelBackend")
    revealed = client.post(f"/runs/{run.pk}/credentials/")

    assert "Handed-over-1" in revealed.content.decode()


def test_a_waiting_onboarding_keeps_who_hands_it_over(hr, fake, team):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", password="unused")
    assert (
        hr.post("/onboardings", newcomer("lou", start_date=day(5), hand_over_to="root")).json()[
            "state"
        ]
        == "waiting"
    )
    assert Person.objects.get(username="lou").start_requested_by == admin


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("nobody", "there is no such user"),
        ("other-lead", "other-lead does not lead team vision"),
        ("inactive-admin", "inactive-admin's account is not active"),
        ("former-admin", "former-admin is offboarded"),
        ("demoted-admin", "demoted-admin does not lead team vision"),
    ],
)
def test_hand_over_to_someone_without_rights_on_the_team_is_400_and_changes_nothing(
    hr, fake, team, other_team, name, why, ordinary_members, settings
):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    other_team.leads.add(users.create_user("other-lead"))
    users.create_superuser("inactive-admin", password="unused", is_active=False)
    # Directory accounts that were admins: Django's copy of the admin group still says so, the
    # directory (ordinary_members) no longer does, and one of them is offboarded.
    admins = Group.objects.create(name=settings.LDAP_ADMIN_GROUP)
    for former in ("former-admin", "demoted-admin"):
        users.create_user(former).groups.add(admins)
    make_person("former-admin", other_team, status=Person.Status.OFFBOARDED)
    hr.post("/onboardings", newcomer("max"))

    reset = hr.post("/credential-resets", {"username": "max", "hand_over_to": name})
    onboarding = hr.post("/onboardings", newcomer("ned", hand_over_to=name))

    for refused in (reset, onboarding):
        assert refused.status_code == 400
        assert refused.json()["error"] == (
            f"hand_over_to: {name!r} is not an AccessAdmin user who may act on team vision "
            f"(a platform admin, or one of its leads): {why}. Nothing changed."
        )
    assert not LifecycleRun.objects.filter(kind="reset").exists()
    assert not Person.objects.filter(username="ned").exists()


def test_an_onboarding_with_three_bad_fields_names_all_three(hr, fake, team):
    body = newcomer("Mary Smith", email="mary@", end_date=day(-1))

    answer = hr.post("/onboardings", body)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert "Username 'mary smith' may only include" in error
    assert "'mary@' is not a valid email address." in error
    assert f"The end date {day(-1)} is in the past" in error
    assert not Person.objects.exists()


def test_a_lead_token_cannot_pass_the_limit_with_start_dates_and_leavers_go_first(
    hr, vision_lead, fake, team, settings, ordinary_members
):
    from onboarding.services import SYSTEM_ACTOR, lifecycle_due
    from tests.engine.conftest import onboard

    onboard("carol", team)
    assert hr.patch("/people/carol", {"end_date": str(timezone.localdate())}).status_code == 200
    settings.LIFECYCLE_REQUESTS_PER_HOUR = 3
    tomorrow = str(timezone.localdate() + timedelta(days=1))
    answers = [
        vision_lead.post("/onboardings", newcomer(name, start_date=tomorrow)).status_code
        for name in ("ann", "ben", "cid", "dee")
    ]
    assert answers == [202, 202, 202, 429]
    moved = vision_lead.patch("/people/ann", {"start_date": str(timezone.localdate())})
    assert moved.status_code == 429
    assert Person.objects.get(username="ann").start_date == timezone.localdate() + timedelta(1)

    outcomes = lifecycle_due(actor=SYSTEM_ACTOR)

    assert [(o.username, o.kind, o.note) for o in outcomes] == [("carol", "offboard", "")]
    assert Person.objects.get(username="carol").status == Person.Status.OFFBOARDED


def test_an_api_run_nobody_was_named_for_is_revealed_by_the_teams_lead(
    hr, fake, team, other_team, client, ordinary_members
):
    from django.contrib.auth import get_user_model

    from onboarding.credentials import credential_store

    users = get_user_model().objects
    lead, elsewhere = users.create_user("lea"), users.create_user("nia-lead")
    team.leads.add(lead)
    other_team.leads.add(elsewhere)
    answer = hr.post("/onboardings", newcomer("kim"))
    run = LifecycleRun.objects.get(pk=answer.json()["id"])
    assert run.requested_by is None
    credential_store(run=run, kind="temporary_password", secret="Nobody-named-1")

    client.force_login(elsewhere, "django.contrib.auth.backends.ModelBackend")
    assert client.post(f"/runs/{run.pk}/credentials/").status_code == 404
    client.force_login(lead, "django.contrib.auth.backends.ModelBackend")
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Reveal the credentials once" in page
    revealed = client.post(f"/runs/{run.pk}/credentials/")

    assert "Nobody-named-1" in revealed.content.decode()
    reveal = AuditEvent.objects.get(action="credentials.reveal")
    assert reveal.actor == "lea"
