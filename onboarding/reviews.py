"""Access reviews: an admin opens one for a team or for every team; each lead confirms or revokes
what each of their members holds, as it stood when the review opened; a revocation starts that
person's offboarding. Leads are reminded while decisions are missing, admins told once the
deadline has passed, and the closed review is exported with who decided what and when."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from onboarding import services
from onboarding.audit import audit_record
from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import AccessReview, AuditEvent, Person, ReviewItem, Team
from onboarding.notifications import MAIL_ERRORS, Mail, admin_addresses, emails_send
from onboarding.selectors import team_lead_names
from onboarding.services.reconcile import system_findings
from onboarding.systems import System, enabled
from onboarding.validation import text_check

logger = logging.getLogger(__name__)

Decision = ReviewItem.Decision
Status = Person.Status
# Who acts when AccessAdmin itself does something to a review (settling, reminding, closing).
REVIEWER = "accessadmin"
# Serialises opening reviews, so two admins cannot open overlapping ones at once.
_REVIEW_OPEN_LOCK = 0x5EC0_9E71
GONE = (Status.OFFBOARDING, Status.OFFBOARDED)


# Opening --------------------------------------------------------------------------------------


def review_open(
    *,
    team: Team | None,
    deadline: date,
    actor: str,
    requested_by=None,
    title: str = "",
) -> AccessReview:
    """Open a review of the team's active members (every team's, with no team), each with what
    every system holds for them now. A system that does not answer is recorded as such."""
    if deadline < timezone.localdate():
        raise InvalidInput(f"The deadline {deadline} is in the past; no review was opened.")
    title = (
        text_check(title, label="The title", max_length=200, one_line=True) if title.strip() else ""
    )
    _overlap_refuse(team)
    people = _people_to_review(team)
    if not people:
        where = f"team {team.name} has" if team else "there are"
        raise InvalidInput(f"Nobody to review: {where} no active members. No review was opened.")
    # The systems are asked before anything is locked: they may be slow.
    holdings = people_holdings(people)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REVIEW_OPEN_LOCK])
            _overlap_refuse(team)
            review = AccessReview.objects.create(
                team=team, deadline=deadline, actor=actor, opened_by=requested_by, title=title
            )
            ReviewItem.objects.bulk_create(
                ReviewItem(
                    review=review,
                    person=person,
                    team_id=person.team_id,
                    holdings=holdings[person.username],
                )
                for person in people
            )
            unanswered = sorted(
                {h["label"] for rows in holdings.values() for h in rows if not h["answered"]}
            )
            audit_record(
                actor=actor, action="review.open", target=f"review #{review.pk}",
                outcome="succeeded",
                details={"review": review.pk, "team": team.name if team else None,
                         "deadline": str(deadline), "people": len(people),
                         "systems_unanswered": unanswered, "title": title},
            )  # fmt: skip
    except IntegrityError:
        raise InvalidInput(_overlap_message(team)) from None
    return review


def _overlap_message(team: Team | None, other: AccessReview | None = None) -> str:
    which = f" (#{other.pk}, {other.scope})" if other else ""
    scope = f"team {team.name}" if team else "every team"
    return (
        f"An open access review already covers {scope}{which}; close it before opening "
        "another. No review was opened."
    )


def _overlap_refuse(team: Team | None) -> None:
    """One open review per team: a review of every team overlaps any other open one."""
    open_reviews = AccessReview.objects.filter(state=AccessReview.State.OPEN).select_related("team")
    if team is not None:
        open_reviews = open_reviews.filter(Q(team=team) | Q(team__isnull=True))
    other = open_reviews.first()
    if other is not None:
        raise InvalidInput(_overlap_message(team, other))


def _people_to_review(team: Team | None) -> list[Person]:
    people = Person.objects.filter(status=Status.ACTIVE).select_related("team")
    if team is not None:
        people = people.filter(team=team)
    return list(people.order_by("team__name", "username"))


def people_holdings(people: list[Person]) -> dict[str, list[dict]]:
    """What each system holds for each person, asking each system once (its inventory), with
    what differs from what AccessAdmin expects; a system that fails is recorded as unanswered."""
    holdings: dict[str, list[dict]] = {person.username: [] for person in people}
    by_name = {person.username: person for person in people}
    systems = enabled()
    timeout = settings.REVIEW_OPEN_TIMEOUT_SECONDS
    # Asked together, each on its own thread, so opening takes as long as the slowest system
    # and never longer than the deadline: an admin is waiting on the page.
    pool = ThreadPoolExecutor(max_workers=max(len(systems), 1), thread_name_prefix="review")
    asked = {system.name: pool.submit(_inventory, system) for system in systems}
    wait(asked.values(), timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)
    for system in systems:
        answer = asked[system.name]
        if not answer.done():
            _unanswered(holdings, system, f"did not answer within {timeout} s")
            continue
        try:
            inventory = answer.result()
        except AccessAdminError as error:
            _unanswered(holdings, system, str(error))
            continue
        except Exception as error:  # one broken system must not stop the review from opening
            logger.error("review: the inventory of %s failed", system.name, exc_info=error)
            _unanswered(holdings, system, f"unexpected {type(error).__name__}")
            continue
        held: dict[str, list[dict]] = defaultdict(list)
        for item in inventory:
            if item.username in holdings:
                held[item.username].append(
                    {"kind": item.kind, "id": item.id, "detail": item.detail}
                )
        notes: dict[str, list[str]] = defaultdict(list)
        for finding in system_findings(system, inventory, by_name):
            if finding.username in holdings and finding.kind != finding.Kind.ORPHAN:
                notes[finding.username].append(finding.detail)
        for username, rows in holdings.items():
            rows.append(
                {"system": system.name, "label": system.label, "answered": True,
                 "held": held[username], "notes": notes[username], "error": ""}
            )  # fmt: skip
    return holdings


def _inventory(system: System) -> list:
    try:
        return system.inventory()
    finally:
        connections.close_all()  # this thread's own, opened by a system that reads the database


def _unanswered(holdings: dict[str, list[dict]], system: System, error: str) -> None:
    for rows in holdings.values():
        rows.append(
            {"system": system.name, "label": system.label, "answered": False, "held": [],
             "notes": [], "error": error}
        )  # fmt: skip


def holdings_words(holdings: list[dict]) -> list[tuple[str, str]]:
    """(system, what they held there) for each system, in words."""
    words = []
    for row in holdings:
        if not row["answered"]:
            text = f"did not answer ({row['error']})"
        elif row["held"]:
            text = "; ".join(f"{h['kind']} {h['id']}: {h['detail']}" for h in row["held"])
        else:
            text = "nothing"
        if row.get("notes"):
            text += " [" + "; ".join(row["notes"]) + "]"
        words.append((row["label"], text))
    return words


@dataclass(frozen=True)
class HeldInWords:
    """What one system held for a person, for a lead to read: what kinds of thing, whether it
    differs from what AccessAdmin expects, and the ids behind it for whoever wants them."""

    label: str
    summary: str
    technical: str


def holdings_summary(holdings: list[dict]) -> list[HeldInWords]:
    summaries = []
    for row in holdings:
        if not row["answered"]:
            summary, technical = "did not answer when the review opened", row["error"]
        elif row["held"]:
            kinds = sorted({h["kind"] for h in row["held"]})
            summary = ", ".join(kinds)
            technical = "; ".join(f"{h['kind']} {h['id']}: {h['detail']}" for h in row["held"])
        else:
            summary, technical = "nothing", ""
        if row.get("notes"):
            summary += " (differs from what AccessAdmin expects)"
            technical = "; ".join(filter(None, [technical, *row["notes"]]))
        summaries.append(HeldInWords(row["label"], summary, technical))
    return summaries


# Deciding -------------------------------------------------------------------------------------


def review_decide(
    *,
    item: ReviewItem,
    decision: str,
    comment: str,
    actor: str,
    user=None,
    allowed_teams: Iterable[Team] | None = None,
) -> ReviewItem:
    """Confirm or revoke one person's access. Revoking starts their offboarding in the same
    transaction. `allowed_teams` (None: any) are the teams the decider leads. The review closes
    once every item is decided."""
    if decision not in (Decision.CONFIRMED, Decision.REVOKED):
        raise InvalidInput(f"{decision!r} is not a decision: confirm or revoke. Nothing changed.")
    comment = (comment or "").strip()
    if decision == Decision.REVOKED and not comment:
        raise InvalidInput("Say why the access is revoked (a comment); nothing was changed.")
    if comment:
        comment = text_check(comment, label="The comment")
    allowed = None if allowed_teams is None else {team.pk for team in allowed_teams}
    with transaction.atomic():
        item = (
            ReviewItem.objects.select_for_update(of=("self",))
            .select_related("review__team", "person__team", "team")
            .get(pk=item.pk)
        )
        _decision_refuse(item, allowed=allowed, user=user)
        run = None
        if decision == Decision.REVOKED:
            run = services.person_offboard(
                person=item.person, reason=f"access review #{item.review_id}: {comment}",
                actor=actor, requested_by=user,
            )  # fmt: skip
        item.decision, item.decided_by, item.decided_at = decision, actor, timezone.now()
        item.comment, item.offboard_run = comment, run
        item.save(update_fields=["decision", "decided_by", "decided_at", "comment", "offboard_run"])
        audit_record(
            actor=actor, action="review.decide", target=item.person.username,
            outcome="succeeded",
            details={"review": item.review_id, "team": item.team.name, "decision": decision,
                     "comment": comment, "run": run.pk if run else None},
            run=run,
        )  # fmt: skip
        review_settle(review=item.review)
    return item


def review_confirm_all(
    *, items: list[ReviewItem], actor: str, user=None, allowed_teams: Iterable[Team] | None = None
) -> int:
    """Confirm each of these people's access, all or none: one refusal changes nothing."""
    with transaction.atomic():
        for item in items:
            review_decide(
                item=item, decision=Decision.CONFIRMED, comment="", actor=actor, user=user,
                allowed_teams=allowed_teams,
            )  # fmt: skip
    return len(items)


def _decision_refuse(item: ReviewItem, *, allowed: set[int] | None, user) -> None:
    person = item.person
    if allowed is not None and not {item.team_id, person.team_id} <= allowed:
        # A lead is not told where someone of another team stands.
        raise InvalidInput("That person is not one of your teams' members; nothing was changed.")
    if not item.review.is_open:
        raise InvalidInput(f"Review #{item.review_id} is closed; nothing was changed.")
    if not item.is_pending:
        raise InvalidInput(
            f"{person.username} was already {item.get_decision_display().lower()} by "
            f"{item.decided_by} at {timezone.localtime(item.decided_at):%Y-%m-%d %H:%M}; "
            "nothing was changed."
        )
    if user is not None and user.get_username() == person.username:
        raise InvalidInput("Nobody decides on their own access; a platform admin does.")
    if person.status != Status.ACTIVE:
        raise InvalidInput(
            f"{person.username} is no longer active ({person.get_status_display().lower()}); "
            "nothing was changed."
        )


def review_settle(*, review: AccessReview, actor: str = REVIEWER) -> AccessReview:
    """Mark who left by other means meanwhile, and close the review once nothing is pending."""
    with transaction.atomic():
        review = AccessReview.objects.select_for_update().get(pk=review.pk)
        if not review.is_open:
            return review
        gone = review.items.filter(decision=Decision.PENDING, person__status__in=GONE)
        for item in gone.select_related("person", "team"):
            item.decision, item.decided_by, item.decided_at = Decision.LEFT, actor, timezone.now()
            item.comment = f"{item.person.get_status_display().lower()} outside the review"
            item.save(update_fields=["decision", "decided_by", "decided_at", "comment"])
            audit_record(
                actor=actor, action="review.decide", target=item.person.username,
                outcome="succeeded",
                details={"review": review.pk, "team": item.team.name, "decision": Decision.LEFT,
                         "comment": item.comment, "run": None},
            )  # fmt: skip
        if not review.items.filter(decision=Decision.PENDING).exists():
            _review_close_now(review, actor=actor, why="every item is decided")
    return review


def review_close(*, review: AccessReview, actor: str) -> AccessReview:
    """Close a review before every item is decided (an admin's call): what is still pending is
    exported as undecided."""
    review_settle(review=review, actor=REVIEWER)
    with transaction.atomic():
        review = AccessReview.objects.select_for_update().get(pk=review.pk)
        if not review.is_open:
            raise InvalidInput(f"Review #{review.pk} is already closed; nothing was changed.")
        _review_close_now(review, actor=actor, why="closed before every item was decided")
    return review


def _review_close_now(review: AccessReview, *, actor: str, why: str) -> None:
    review.state, review.closed_at = AccessReview.State.CLOSED, timezone.now()
    review.save(update_fields=["state", "closed_at"])
    counts = review_counts(review)
    audit_record(
        actor=actor, action="review.close", target=f"review #{review.pk}", outcome="succeeded",
        details={"review": review.pk, "why": why, **counts},
    )  # fmt: skip


def review_counts(review: AccessReview, items: QuerySet[ReviewItem] | None = None) -> dict:
    items = review.items.all() if items is None else items
    found = dict(items.order_by().values_list("decision").annotate(n=Count("pk")))
    return {decision: found.get(decision, 0) for decision, _ in Decision.choices}


# Reading --------------------------------------------------------------------------------------


def reviews_visible(teams: QuerySet[Team] | None) -> QuerySet[AccessReview]:
    """Every review (teams None: an admin), or those with items of these teams."""
    reviews = AccessReview.objects.select_related("team")
    if teams is None:
        return reviews
    return reviews.filter(
        Q(team__in=teams) | Q(team__isnull=True, items__team__in=teams)
    ).distinct()


def review_items(review: AccessReview, teams: QuerySet[Team] | None) -> QuerySet[ReviewItem]:
    items = review.items.select_related("person__team", "team", "offboard_run")
    return items if teams is None else items.filter(team__in=teams)


def review_get(review_id: int) -> AccessReview:
    review = AccessReview.objects.select_related("team").filter(pk=review_id).first()
    if review is None:
        raise InvalidInput(f"There is no access review #{review_id}.")
    return review


# Reminding and escalating ---------------------------------------------------------------------


@dataclass
class ReminderPass:
    reminded: list[str] = field(default_factory=list)  # "review #N: lead"
    escalated: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def review_remind() -> ReminderPass:
    """Remind each lead with decisions pending, at most once a day per review; once the
    deadline has passed, tell the platform admins, once per review. Without EMAIL_HOST nothing
    is sent; who left meanwhile is settled either way."""
    today = timezone.localdate()
    done = ReminderPass()
    for review in AccessReview.objects.filter(state=AccessReview.State.OPEN).order_by("pk"):
        review = review_settle(review=review)
        if not review.is_open or not settings.EMAIL_HOST:
            continue
        _leads_remind(review, today, done)
        if today > review.deadline and review.escalated_at is None:
            _admins_tell(review, done)
    return done


def _review_link(review: AccessReview) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/reviews/{review.pk}/"


def _leads_remind(review: AccessReview, today: date, done: ReminderPass) -> None:
    pending = review.items.filter(decision=Decision.PENDING).select_related("team", "person")
    by_team: dict[Team, list[ReviewItem]] = defaultdict(list)
    for item in pending:
        by_team[item.team].append(item)
    waiting: dict[str, list[ReviewItem]] = defaultdict(list)
    for team, items in by_team.items():
        for lead in team_lead_names(team):
            # Their own access is for an admin to decide.
            waiting[lead] += [item for item in items if item.person.username != lead]
    since = timezone.make_aware(datetime.combine(today, time.min))
    for lead, items in sorted(waiting.items()):
        if not items or _reminded_since(review, lead, since):
            continue
        address = _lead_address(lead)
        if not address:
            logger.warning("review %s: lead %s has no e-mail address", review.pk, lead)
            continue
        subject = f"[AccessAdmin] Access review #{review.pk}: {len(items)} decisions wait for you"
        body = (
            f"Access review #{review.pk} ({review.scope}) asks you to confirm or revoke what each "
            f"of your teams' members holds. {len(items)} still wait for your decision; the "
            f"deadline is {review.deadline}.\n\nDecide here: {_review_link(review)}\n"
        )
        if not _mail_send(review, "review.remind", address, subject, body, done):
            continue
        with transaction.atomic():
            ReviewItem.objects.filter(pk__in=[item.pk for item in items]).update(
                reminded_at=timezone.now()
            )
            audit_record(
                actor=REVIEWER, action="review.remind", target=lead, outcome="succeeded",
                details={"review": review.pk, "lead": lead, "to": address,
                         "pending": len(items)},
            )  # fmt: skip
        done.reminded.append(f"review #{review.pk}: {lead}")


def _reminded_since(review: AccessReview, lead: str, since: datetime) -> bool:
    return AuditEvent.objects.filter(
        action="review.remind", details__review=review.pk, details__lead=lead, at__gte=since
    ).exists()


def _lead_address(username: str) -> str:
    person = Person.objects.filter(username=username).exclude(email="").first()
    if person is not None:
        return person.email
    user = get_user_model().objects.filter(username=username).exclude(email="").first()
    return user.email if user is not None else ""


def _admins_tell(review: AccessReview, done: ReminderPass) -> None:
    pending = review.items.filter(decision=Decision.PENDING)
    count = pending.count()
    teams = sorted(set(pending.values_list("team__name", flat=True)))
    addresses = admin_addresses()
    subject = f"[AccessAdmin] Access review #{review.pk} is past its deadline"
    body = (
        f"Access review #{review.pk} ({review.scope}) passed its deadline, {review.deadline}, "
        f"with {count} decisions missing (teams: {', '.join(teams)}).\n\nDecide them or close "
        f"the review: {_review_link(review)}\n"
    )
    sent = [a for a in addresses if _mail_send(review, "review.escalate", a, subject, body, done)]
    if addresses and not sent:
        return  # the mail server refused: the next pass tries again
    with transaction.atomic():
        now = timezone.now()
        AccessReview.objects.filter(pk=review.pk).update(escalated_at=now)
        pending.update(escalated_at=now)
        audit_record(
            actor=REVIEWER, action="review.escalate", target=f"review #{review.pk}",
            outcome="succeeded" if sent else "failed",
            details={"review": review.pk, "to": sent, "pending": count, "teams": teams,
                     **({} if sent else {"error": "no platform admin has an e-mail address"})},
        )  # fmt: skip
    done.escalated.append(review.pk)


def _mail_send(
    review: AccessReview, event: str, to: str, subject: str, body: str, done: ReminderPass
) -> bool:
    """Send one e-mail and audit it (never its body); a mail server that refuses is audited
    as such and the pass goes on."""
    try:
        emails_send([Mail(to=to, subject=subject, body=body)], sent=lambda _: None)
    except MAIL_ERRORS as error:
        logger.error("review %s: %s to %s not sent: %s", review.pk, event, to, error)
        audit_record(
            actor=REVIEWER, action="notification.sent", target=f"review #{review.pk}",
            outcome="failed",
            details={"review": review.pk, "event": event, "to": to,
                     "error": f"{type(error).__name__}: {error}"},
        )  # fmt: skip
        done.failed.append(f"review #{review.pk}: {event} to {to}")
        return False
    audit_record(
        actor=REVIEWER, action="notification.sent", target=f"review #{review.pk}",
        outcome="succeeded", details={"review": review.pk, "event": event, "to": to},
    )  # fmt: skip
    return True


# Exporting ------------------------------------------------------------------------------------


EXPORT_HEADER = [
    "review", "team", "username", "name", "held when opened", "decision", "decided by",
    "decided at", "comment", "offboarding run", "offboarding state",
]  # fmt: skip


def review_export_rows(
    *, review: AccessReview, actor: str, items: QuerySet[ReviewItem] | None = None,
    form_of: str = "csv",
) -> list[list[str]]:  # fmt: skip
    """The review as rows (a header first): who held what, who decided what and when. The
    export is audited."""
    items = review_items(review, None) if items is None else items
    rows = [EXPORT_HEADER]
    for item in items.order_by("team__name", "person__username"):
        held = " | ".join(f"{label}: {text}" for label, text in holdings_words(item.holdings))
        run = item.offboard_run
        rows.append([
            str(review.pk), item.team.name, item.person.username, item.person.full_name, held,
            item.decision, item.decided_by,
            timezone.localtime(item.decided_at).isoformat() if item.decided_at else "",
            item.comment, str(run.pk) if run else "", run.state if run else "",
        ])  # fmt: skip
    audit_record(
        actor=actor, action="review.export", target=f"review #{review.pk}", outcome="succeeded",
        details={"review": review.pk, "format": form_of, "items": len(rows) - 1},
    )  # fmt: skip
    return rows
