"""The access review pages, against the fake system: an admin opens a review; each lead sees and
decides only their teams' members, revoking after a preview and with a comment; forged item ids,
other teams' members and missing comments change nothing; the CSV export cannot carry a
formula."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from onboarding.models import AccessReview, AuditEvent, LifecycleRun, Person, ReviewItem
from onboarding.reviews import review_open
from tests.engine import conftest as engine
from tests.factories import make_person
from tests.web import test_person_update
from tests.web.conftest import LOCAL_BACKEND, Personas
from web.previews import preview_token

pytestmark = pytest.mark.django_db

fake = engine.fake
# The directory says the people acted on are neither admins nor leads.
plain_members = test_person_update.plain_members


def next_week() -> date:
    return timezone.localdate() + timedelta(days=7)


def member(fake, team, username: str) -> Person:
    fake.account_create(username, team.name)
    return make_person(username, team=team, status="active")


@pytest.fixture
def review(personas: Personas, fake) -> AccessReview:
    """A review of every team: ann and al in team A, bea in team B."""
    for username, team in (("ann", personas.team_a), ("al", personas.team_a),
                           ("bea", personas.team_b)):  # fmt: skip
        member(fake, team, username)
    return review_open(team=None, deadline=next_week(), actor="admin-user")


def as_role(client, personas: Personas, role: str):
    client.force_login(getattr(personas, role), backend=LOCAL_BACKEND)
    return client


def item(username: str) -> ReviewItem:
    return ReviewItem.objects.select_related("person").get(person__username=username)


def decisions() -> list[tuple]:
    return sorted(ReviewItem.objects.values_list("person__username", "decision", "comment"))


def test_an_admin_opens_a_review_and_a_deadline_in_the_past_is_refused(client, personas, fake):
    member(fake, personas.team_a, "ann")
    as_role(client, personas, "admin")
    assert "Open the review" in client.get("/reviews/new/").content.decode()

    past = client.post(
        "/reviews/new/", {"team": "", "deadline": timezone.localdate() - timedelta(days=1)}
    )
    assert past.status_code == 200 and "The deadline is in the past" in past.content.decode()
    assert not AccessReview.objects.exists()

    made = client.post("/reviews/new/", {"team": personas.team_a.name, "deadline": next_week()})
    review = AccessReview.objects.get()
    assert made["Location"] == f"/reviews/{review.pk}/"
    page = client.get(made["Location"]).content.decode()
    assert "ann" in page and "Fake directory" in page and "account ann" in page

    again = client.post("/reviews/new/", {"team": "", "deadline": next_week()})
    assert "already covers" in again.content.decode()
    assert AccessReview.objects.count() == 1


def test_a_lead_sees_and_decides_only_their_teams_members(client, personas, review, plain_members):
    as_role(client, personas, "lead_a")
    page = client.get(f"/reviews/{review.pk}/").content.decode()
    assert "ann" in page and "al" in page and "bea" not in page
    assert f"/reviews/{review.pk}/items/{item('ann').pk}/" in page
    listed = client.get("/reviews/").context["rows"]
    assert [(shown.pk, counts["pending"]) for shown, counts in listed] == [(review.pk, 2)]

    confirmed = client.post(
        f"/reviews/{review.pk}/items/{item('ann').pk}/", {"decision": "confirmed"}
    )

    assert confirmed.status_code == 302
    assert item("ann").decision == "confirmed" and item("ann").decided_by == "lead-a"
    assert AuditEvent.objects.filter(action="review.decide", actor="lead-a").count() == 1


def test_a_revoke_is_previewed_then_offboards_that_member_only(
    client, personas, review, plain_members
):
    as_role(client, personas, "lead_a")
    url = f"/reviews/{review.pk}/items/{item('al').pk}/"

    asked = client.post(url, {"decision": "revoked", "comment": "left the project"})
    # Post/redirect/get: the preview is shown by a GET, which Back and reload only fetch again.
    assert asked.status_code == 302 and asked["Location"].startswith(f"{url}?preview=")
    preview = client.get(asked["Location"])

    assert preview.status_code == 200
    assert "Revoke and offboard al" in preview.content.decode()
    assert item("al").decision == "pending" and not LifecycleRun.objects.exists()
    token = preview.context["preview_token"]
    forged = client.post(url, {"decision": "revoked", "comment": "other words",
                               "action": "revoke", "preview_token": token})  # fmt: skip
    assert forged.status_code == 200 and item("al").decision == "pending"

    done = client.post(url, {"decision": "revoked", "comment": "left the project",
                             "action": "revoke", "preview_token": token})  # fmt: skip

    assert done.status_code == 302
    al = item("al")
    assert (al.decision, al.comment, al.decided_by) == ("revoked", "left the project", "lead-a")
    (run,) = LifecycleRun.objects.all()
    assert (run.person.username, run.kind) == ("al", "offboard")
    assert al.offboard_run == run
    assert Person.objects.get(username="al").status == "offboarding"
    assert set(Person.objects.exclude(username="al").values_list("status", flat=True)) == {"active"}


def test_a_revoke_without_a_comment_changes_nothing(client, personas, review, plain_members):
    as_role(client, personas, "lead_a")
    url = f"/reviews/{review.pk}/items/{item('al').pk}/"
    before = decisions()
    shown = {"item": str(item("al").pk), "comment": ""}

    for data in (
        {"decision": "revoked", "comment": "   "},
        {"decision": "revoked", "comment": "", "action": "revoke",
         "preview_token": preview_token("review_revoke", shown)},
        {"decision": "pending"},
        {"decision": "confirmed", "comment": "x" * 5000},
    ):  # fmt: skip
        response = client.post(url, data, follow=True)
        assert response.status_code == 200
        assert "nothing was changed" in response.content.decode().lower()

    assert decisions() == before and not LifecycleRun.objects.exists()


def test_a_forged_item_of_another_team_is_refused_and_audited(
    client, personas, review, plain_members
):
    as_role(client, personas, "lead_a")
    before = decisions()

    response = client.post(
        f"/reviews/{review.pk}/items/{item('bea').pk}/", {"decision": "revoked", "comment": "x",
                                                          "action": "revoke"},
    )  # fmt: skip

    assert response.status_code == 404
    assert decisions() == before and not LifecycleRun.objects.exists()
    assert AuditEvent.objects.filter(action="access.denied", actor="lead-a").exists()


def test_a_lead_may_not_decide_on_another_lead_nor_on_themselves(
    client, personas, fake, plain_members
):
    member(fake, personas.team_a, "lead-a")
    member(fake, personas.team_a, "other-lead")
    personas.team_b.leads.add(User.objects.create(username="other-lead"))
    review = review_open(team=personas.team_a, deadline=next_week(), actor="admin-user")
    as_role(client, personas, "lead_a")
    before = decisions()

    for username in ("lead-a", "other-lead"):
        response = client.post(
            f"/reviews/{review.pk}/items/{item(username).pk}/", {"decision": "confirmed"}
        )
        assert response.status_code == 403, username

    assert decisions() == before
    page = client.get(f"/reviews/{review.pk}/").content.decode()
    assert "a platform admin decides this one" in page


def test_the_csv_export_says_who_decided_what_and_cannot_carry_a_formula(
    client, personas, review, plain_members
):
    as_role(client, personas, "admin")
    client.post(f"/reviews/{review.pk}/items/{item('ann').pk}/",
                {"decision": "confirmed", "comment": "=HYPERLINK(\"http://evil\")"})  # fmt: skip

    response = client.get(f"/reviews/{review.pk}/export.csv")

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["username"] for row in rows] == ["al", "ann", "bea"]
    ann = rows[1]
    assert ann["decision"] == "confirmed" and ann["decided by"] == "admin-user"
    assert ann["decided at"] and ann["comment"].startswith("'=")
    assert AuditEvent.objects.filter(action="review.export", actor="admin-user").exists()

    as_role(client, personas, "lead_b")
    lead_rows = list(csv.DictReader(io.StringIO(
        client.get(f"/reviews/{review.pk}/export.csv").content.decode()
    )))  # fmt: skip
    assert [row["username"] for row in lead_rows] == ["bea"]
    printed = client.get(f"/reviews/{review.pk}/print/")
    assert [item.person.username for item, _ in printed.context["rows"]] == ["bea"]
    assert "Fake directory" in printed.content.decode()


def test_an_admin_closes_a_review_and_then_nobody_decides(client, personas, review, plain_members):
    as_role(client, personas, "admin")
    client.post(f"/reviews/{review.pk}/close/")
    review.refresh_from_db()
    assert review.state == "closed"
    before = decisions()

    response = client.post(
        f"/reviews/{review.pk}/items/{item('ann').pk}/", {"decision": "confirmed"}, follow=True
    )

    assert "is closed" in response.content.decode()
    assert decisions() == before


def test_the_dashboard_shows_each_lead_the_reviews_waiting_for_them(
    client, personas, review, plain_members
):
    as_role(client, personas, "lead_b")
    waiting = client.get("/").context["reviews_waiting"]
    assert [(shown.pk, count) for shown, count in waiting] == [(review.pk, 1)]

    client.post(f"/reviews/{review.pk}/items/{item('bea').pk}/", {"decision": "confirmed"})

    assert client.get("/").context["reviews_waiting"] == []
    as_role(client, personas, "admin")
    assert [count for _, count in client.get("/").context["reviews_waiting"]] == [2]


def test_the_review_page_and_the_dashboard_count_a_leads_decisions_alike(
    client, personas, fake, plain_members
):
    member(fake, personas.team_a, "ann")
    member(fake, personas.team_a, "al")
    member(fake, personas.team_a, "lead-a")  # the lead's own access is for an admin
    review = review_open(team=personas.team_a, deadline=next_week(), actor="admin-user")
    as_role(client, personas, "lead_a")

    (waiting,) = client.get("/").context["reviews_waiting"]
    page = client.get(f"/reviews/{review.pk}/").content.decode()

    assert waiting == (review, 2)
    assert "3 pending (2 for you to decide, 1 for a platform admin)" in page


def test_what_each_person_held_is_in_words_with_the_ids_behind_a_toggle(
    client, personas, review, plain_members
):
    as_role(client, personas, "admin")

    page = client.get(f"/reviews/{review.pk}/").content.decode()
    printed = client.get(f"/reviews/{review.pk}/print/").content.decode()

    # The fake accounts hold no key yet: each differs from what AccessAdmin expects.
    shown = "<strong>Fake directory</strong>: account (differs from what AccessAdmin expects)"
    assert f"{shown} <details" in page
    assert "<summary>Technical details</summary>account ann:" in page
    technical = '<span class="technical">(account ann:'
    assert f"{shown} {technical}" in printed


def test_a_refused_decision_is_said_on_the_persons_own_row(client, personas, review, plain_members):
    as_role(client, personas, "lead_a")
    al = item("al")

    answer = client.post(f"/reviews/{review.pk}/items/{al.pk}/", {"decision": "revoked"})

    assert answer["Location"] == f"/reviews/{review.pk}/#item-{al.pk}"
    page = client.get(answer["Location"]).content.decode()
    row = page.split(f'<tr id="item-{al.pk}">')[1].split("</tr>")[0]
    assert f'id="item-error-{al.pk}"' in row and "Say why the access is revoked" in row
    assert 'aria-invalid="true"' in row
    assert "Say why" not in client.get(f"/reviews/{review.pk}/").content.decode()  # shown once


def confirm_all_token(client, review: AccessReview) -> str:
    page = client.get(f"/reviews/{review.pk}/confirm-remaining/").content.decode()
    return page.split('name="preview_token" value="')[1].split('"')[0]


def test_a_lead_confirms_all_remaining_after_seeing_whose_and_back_goes_to_a_page(
    client, personas, review, plain_members
):
    lead = as_role(client, personas, "lead_a")
    detail = lead.get(f"/reviews/{review.pk}/").content.decode()
    assert "Confirm all 2 remaining" in detail

    preview = lead.get(f"/reviews/{review.pk}/confirm-remaining/").content.decode()
    assert "ann" in preview and "al" in preview and "bea" not in preview
    assert decisions() == [("al", "pending", ""), ("ann", "pending", ""), ("bea", "pending", "")]

    token = confirm_all_token(lead, review)
    done = lead.post(
        f"/reviews/{review.pk}/confirm-remaining/",
        {"action": "review_confirm_all", "preview_token": token},
    )

    # Post/redirect/get: the browser's Back and reload land on the review, not on a form.
    assert done.status_code == 302 and done["Location"] == f"/reviews/{review.pk}/"
    assert decisions() == [
        ("al", "confirmed", ""), ("ann", "confirmed", ""), ("bea", "pending", ""),
    ]  # fmt: skip
    assert AuditEvent.objects.filter(action="review.decide").count() == 2


def test_confirm_all_refuses_a_list_that_changed_since_its_preview(
    client, personas, review, plain_members
):
    lead = as_role(client, personas, "lead_a")
    token = confirm_all_token(lead, review)
    ReviewItem.objects.filter(person__username="ann").update(
        decision=ReviewItem.Decision.CONFIRMED, decided_by="admin-user"
    )

    refused = lead.post(
        f"/reviews/{review.pk}/confirm-remaining/",
        {"action": "review_confirm_all", "preview_token": token},
    )

    assert refused.status_code == 400
    assert ReviewItem.objects.get(person__username="al").decision == "pending"
    assert 'id="confirm-all-problems"' in refused.content.decode()


def test_confirm_all_without_its_preview_changes_nothing(client, personas, review, plain_members):
    lead = as_role(client, personas, "lead_b")
    refused = lead.post(
        f"/reviews/{review.pk}/confirm-remaining/", {"action": "review_confirm_all"}
    )
    assert refused.status_code == 400
    assert decisions() == [("al", "pending", ""), ("ann", "pending", ""), ("bea", "pending", "")]
