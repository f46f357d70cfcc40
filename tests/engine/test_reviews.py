"""Access reviews through the fake system: opening one snapshots what each active member holds,
a lead's revocation offboards exactly that member, refusals change nothing, leads are reminded
once a day and admins told once past the deadline (a real SMTP server on 127.0.0.1)."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import InvalidInput, RunInProgress, TransientError
from onboarding.models import AccessReview, AuditEvent, LifecycleRun, Person, ReviewItem
from onboarding.reviews import (
    review_close,
    review_decide,
    review_export_rows,
    review_open,
    review_remind,
)
from tests.engine import test_notifications as mail
from tests.engine.conftest import onboard, person
from tests.engine.test_notifications import body
from tests.factories import make_run

pytestmark = pytest.mark.django_db(transaction=True)

# A real SMTP server on 127.0.0.1, as the run notifications' tests use.
mail_settings = mail.mail_settings
mailbox = mail.mailbox

Decision = ReviewItem.Decision
# Every test here runs on this day: the clock is frozen on it for the code under test too.
TODAY = date(2026, 11, 27)
NEXT_WEEK = TODAY + timedelta(days=7)


@pytest.fixture(autouse=True)
def today(clock) -> date:
    return clock.day(TODAY)


def snapshot() -> dict:
    return {
        "items": sorted(
            ReviewItem.objects.values_list(
                "pk", "decision", "decided_by", "comment", "offboard_run"
            )
        ),
        "reviews": sorted(AccessReview.objects.values_list("pk", "state")),
        "people": sorted(Person.objects.values_list("username", "status")),
        "runs": LifecycleRun.objects.count(),
    }


@pytest.fixture
def members(fake, team):
    for username in ("ada", "bob", "cy"):
        assert onboard(username, team).state == LifecycleRun.State.SUCCEEDED
    return team


@pytest.fixture
def lead(team) -> User:
    user = User.objects.create(username="lea", email="lea@example.test")
    team.leads.add(user)
    return user


def opened(team, **fields) -> AccessReview:
    return review_open(team=team, deadline=NEXT_WEEK, actor="admin", **fields)


def item_of(review: AccessReview, username: str) -> ReviewItem:
    return review.items.select_related("person", "team").get(person__username=username)


def test_opening_snapshots_what_each_active_member_holds(fake, members, other_team):
    onboard("dan", other_team)
    Person.objects.filter(username="cy").update(status=Person.Status.OFFBOARDED)
    fake.accounts["bob"].keys = 3  # differs from what AccessAdmin expects

    review = opened(members)

    assert [i.person.username for i in review.items.select_related("person")] == ["ada", "bob"]
    (ada,) = item_of(review, "ada").holdings
    assert ada["label"] == "Fake directory" and ada["answered"]
    assert ada["held"] == [{"kind": "account", "id": "ada", "detail": f"team {members.name}"}]
    (bob,) = item_of(review, "bob").holdings
    assert "keys 3 (expected 1)" in " ".join(bob["notes"])
    event = AuditEvent.objects.get(action="review.open")
    assert event.details["people"] == 2 and event.details["team"] == members.name


def test_a_system_that_does_not_answer_is_recorded_and_does_not_block_opening(fake, members):
    fake.fail("account_list", TransientError("fake", "connection refused"))

    review = opened(members)

    (row,) = item_of(review, "ada").holdings
    assert not row["answered"]
    assert "connection refused" in row["error"]
    assert AuditEvent.objects.get(action="review.open").details["systems_unanswered"] == [
        "Fake directory"
    ]


def test_a_system_slower_than_the_deadline_is_recorded_as_not_answering(fake, members, settings):
    settings.REVIEW_OPEN_TIMEOUT_SECONDS = 1
    fake.before("account_list", lambda: time.sleep(3))

    review = opened(members)

    (row,) = item_of(review, "ada").holdings
    assert (row["answered"], row["error"]) == (False, "did not answer within 1 s")


def test_one_open_review_per_team_and_every_team_overlaps_all(fake, members, other_team):
    onboard("dan", other_team)
    first = opened(members)
    with pytest.raises(InvalidInput, match=f"#{first.pk}"):
        opened(members)
    with pytest.raises(InvalidInput, match="already covers every team"):
        opened(None)
    assert opened(other_team).items.count() == 1
    review_close(review=first, actor="admin")
    assert AccessReview.objects.filter(state="open").count() == 1
    with pytest.raises(InvalidInput, match="already covers"):
        opened(None)


def test_a_deadline_in_the_past_or_nobody_to_review_is_refused(fake, members, other_team):
    with pytest.raises(InvalidInput, match="in the past"):
        review_open(team=members, deadline=TODAY - timedelta(days=1), actor="a")
    with pytest.raises(InvalidInput, match="no active members"):
        opened(other_team)
    assert not AccessReview.objects.exists()


def test_a_lead_revoking_one_member_offboards_exactly_that_member(fake, members, lead):
    review = opened(members)
    allowed = [members]
    for username in ("ada", "bob"):
        review_decide(
            item=item_of(review, username), decision="confirmed", comment="", actor="lea",
            user=lead, allowed_teams=allowed,
        )  # fmt: skip
    review.refresh_from_db()
    assert review.is_open

    revoked = review_decide(
        item=item_of(review, "cy"), decision="revoked", comment="left the project",
        actor="lea", user=lead, allowed_teams=allowed,
    )  # fmt: skip

    run = revoked.offboard_run
    run.refresh_from_db()
    assert (run.kind, run.state) == ("offboard", LifecycleRun.State.SUCCEEDED)
    assert run.params["reason"] == f"access review #{review.pk}: left the project"
    assert run.requested_by == lead
    assert person("cy").status == Person.Status.OFFBOARDED
    assert fake.accounts["cy"].disabled
    assert {person(u).status for u in ("ada", "bob")} == {Person.Status.ACTIVE}
    assert not fake.accounts["ada"].disabled and not fake.accounts["bob"].disabled
    review.refresh_from_db()
    assert review.state == AccessReview.State.CLOSED and review.closed_at
    decided = AuditEvent.objects.filter(action="review.decide").order_by("id")
    assert [(e.target, e.details["decision"]) for e in decided] == [
        ("ada", "confirmed"), ("bob", "confirmed"), ("cy", "revoked"),
    ]  # fmt: skip
    assert decided.last().details["comment"] == "left the project"
    assert decided.last().run == run
    close = AuditEvent.objects.get(action="review.close")
    assert (close.details["confirmed"], close.details["revoked"]) == (2, 1)


@pytest.mark.parametrize(
    "why, decide",
    [
        ("a revoke without a comment", {"decision": "revoked", "comment": "  "}),
        ("no such decision", {"decision": "pending", "comment": ""}),
        ("another team's lead", {"decision": "revoked", "comment": "x", "other_team": True}),
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(fake, members, other_team, lead, why, decide):
    review = opened(members)
    allowed = [other_team] if decide.pop("other_team", False) else [members]
    before = snapshot()
    with pytest.raises(InvalidInput):
        review_decide(
            item=item_of(review, "ada"), actor="lea", user=lead, allowed_teams=allowed, **decide
        )
    assert snapshot() == before


def test_deciding_twice_on_a_closed_review_for_oneself_or_a_leaver_is_refused(fake, members):
    review = opened(members)
    ada = item_of(review, "ada")
    review_decide(item=ada, decision="confirmed", comment="", actor="admin")
    Person.objects.filter(username="cy").update(status=Person.Status.MOVING)
    before = snapshot()
    with pytest.raises(InvalidInput, match="already confirmed by admin"):
        review_decide(item=ada, decision="revoked", comment="changed my mind", actor="admin")
    bob = User.objects.create(username="bob")
    with pytest.raises(InvalidInput, match="own access"):
        review_decide(item=item_of(review, "bob"), decision="confirmed", comment="", actor="bob",
                      user=bob)  # fmt: skip
    with pytest.raises(InvalidInput, match="no longer active"):
        review_decide(item=item_of(review, "cy"), decision="confirmed", comment="", actor="admin")
    assert snapshot() == before

    review_close(review=review, actor="admin")
    before = snapshot()
    with pytest.raises(InvalidInput, match="closed"):
        review_decide(item=item_of(review, "bob"), decision="confirmed", comment="", actor="admin")
    assert snapshot() == before


def test_someone_offboarded_outside_the_review_is_settled_as_left(fake, members):
    review = opened(members)
    for username in ("ada", "bob"):
        review_decide(item=item_of(review, username), decision="confirmed", comment="", actor="a")
    Person.objects.filter(username="cy").update(status=Person.Status.OFFBOARDED)

    review_remind()

    assert item_of(review, "cy").decision == Decision.LEFT
    review.refresh_from_db()
    assert review.state == AccessReview.State.CLOSED


def test_leads_are_reminded_once_a_day_and_admins_once_past_the_deadline(
    fake, members, lead, mailbox, clock
):
    admin = User.objects.create(username="root", email="root@example.test", is_superuser=True)
    group_admin = User.objects.create(username="pa", email="pa@example.test")
    group_admin.groups.add(Group.objects.get_or_create(name=settings.LDAP_ADMIN_GROUP)[0])
    User.objects.create(username="nobody", email="nobody@example.test")
    review = opened(members)
    review_decide(item=item_of(review, "ada"), decision="confirmed", comment="", actor="admin")

    first = review_remind()
    again = review_remind()

    assert first.reminded == [f"review #{review.pk}: lea"] and again.reminded == []
    (reminder,) = mailbox.to("lea@example.test")
    assert "2 still wait for your decision" in body(reminder)
    assert f"https://accessadmin.example.test/reviews/{review.pk}/" in body(reminder)
    assert not first.escalated
    assert item_of(review, "bob").reminded_at is not None

    clock.day(TODAY + timedelta(days=1))
    review_remind()
    assert len(mailbox.to("lea@example.test")) == 2
    clock.day(NEXT_WEEK + timedelta(days=1))
    past = review_remind()
    review_remind()

    assert past.escalated == [review.pk]
    assert len(mailbox.to(admin.email)) == 1 and len(mailbox.to(group_admin.email)) == 1
    assert mailbox.to("nobody@example.test") == []
    assert "2 decisions missing" in body(mailbox.to(admin.email)[0])
    escalation = AuditEvent.objects.get(action="review.escalate")
    assert escalation.details["to"] == ["pa@example.test", "root@example.test"]
    sent = AuditEvent.objects.filter(action="notification.sent", outcome="succeeded")
    assert sent.count() == len(mailbox.messages)
    assert all(set(e.details) == {"review", "event", "to"} for e in sent)


def test_without_a_mail_server_nothing_is_sent_and_a_refusing_one_is_audited(
    fake, members, lead, mail_settings
):
    review = opened(members)
    mail_settings.EMAIL_HOST = ""
    assert review_remind().reminded == []
    mail_settings.EMAIL_HOST = "127.0.0.1"  # nothing listens on EMAIL_PORT

    done = review_remind()

    assert done.reminded == [] and len(done.failed) == 1
    failed = AuditEvent.objects.get(action="notification.sent", outcome="failed")
    assert failed.details["to"] == "lea@example.test"
    assert not AuditEvent.objects.filter(action="review.remind").exists()
    assert item_of(review, "ada").reminded_at is None


def test_the_export_says_who_decided_what_and_when_and_is_audited(fake, members):
    review = opened(members)
    review_decide(item=item_of(review, "ada"), decision="revoked", comment="=HYPERLINK(1)",
                  actor="admin")  # fmt: skip

    rows = review_export_rows(review=review, actor="admin")

    header, ada, *_ = rows
    record = dict(zip(header, ada, strict=True))
    assert record["username"] == "ada" and record["decision"] == "revoked"
    assert record["decided by"] == "admin" and record["decided at"]
    assert "Fake directory: account ada" in record["held when opened"]
    assert record["offboarding run"] == str(item_of(review, "ada").offboard_run_id)
    assert AuditEvent.objects.get(action="review.export").details["items"] == 3


def test_the_review_command_opens_lists_exports_and_refuses_bad_input(fake, members):
    out = io.StringIO()
    call_command("review", "open", "--team", members.name, "--deadline", str(NEXT_WEEK),
                 stdout=out)  # fmt: skip
    review = AccessReview.objects.get()
    assert f"Review #{review.pk} (team {members.name}) is open: 3 people" in out.getvalue()
    review_decide(item=item_of(review, "ada"), decision="revoked", comment="=1+1", actor="admin")

    listing = io.StringIO()
    call_command("review", "list", stdout=listing)
    assert f"#{review.pk}  open" in listing.getvalue()
    exported = io.StringIO()
    call_command("review", "export", str(review.pk), "--csv", stdout=exported)
    rows = list(csv.reader(io.StringIO(exported.getvalue())))
    assert rows[1][rows[0].index("comment")] == "'=1+1"

    for args in (
        ["open", "--team", "nosuch", "--deadline", str(NEXT_WEEK)],
        ["open", "--deadline", str(TODAY - timedelta(days=1))],
        ["open", "--deadline", str(NEXT_WEEK)],  # overlaps the open one
        ["export", "999999"],
    ):
        with pytest.raises(CommandError) as caught:
            call_command("review", *args)
        assert caught.value.returncode == 2, args


def test_a_revoke_refused_by_the_offboarding_leaves_the_item_pending(fake, members):
    review = opened(members)
    make_run(person("ada"), kind="repair", state="running", worker="w@h:1")
    before = snapshot()

    with pytest.raises(RunInProgress):
        review_decide(item=item_of(review, "ada"), decision="revoked", comment="gone",
                      actor="admin")  # fmt: skip

    assert snapshot() == before
    assert not AuditEvent.objects.filter(action="review.decide").exists()
