"""Access review pages: admins open reviews and see them whole; each lead sees and decides only
their own teams' members; the result is exported as CSV or printed."""

from __future__ import annotations

import csv
import io

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from onboarding import reviews, services
from onboarding.access import Access
from onboarding.errors import AccessAdminError
from onboarding.exports import csv_cell
from onboarding.models import AccessReview, ReviewItem, Team
from onboarding.validation import TEXT_MAX_LENGTH
from web.permissions import access_for, admin_required, no_access, staff_required, visible_or_404
from web.plan_words import changes_in_words
from web.previews import NOT_PREVIEWED, preview_matches, preview_token

EVERY_TEAM = ""


class ReviewForm(forms.Form):
    team = forms.ChoiceField(
        required=False, help_text="A review of every team asks each lead about their own members."
    )
    deadline = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leads are reminded daily until they decide; past it, the admins are told.",
    )
    title = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, team_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [(EVERY_TEAM, "Every team"), *((n, n) for n in team_names)]

    def clean_deadline(self):
        deadline = self.cleaned_data["deadline"]
        if deadline < timezone.localdate():
            raise forms.ValidationError("The deadline is in the past.")
        return deadline


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            (ReviewItem.Decision.CONFIRMED, "Confirm"),
            (ReviewItem.Decision.REVOKED, "Revoke"),
        ]
    )
    comment = forms.CharField(required=False, max_length=TEXT_MAX_LENGTH)


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _teams(access: Access):
    """The teams whose items the viewer sees: None for every team (an admin)."""
    return None if access.is_admin else access.teams()


def _review(request: HttpRequest, review_id: int) -> AccessReview:
    visible = reviews.reviews_visible(_teams(access_for(request)))
    return visible_or_404(request, visible, pk=review_id)


def _may_decide(access: Access, review: AccessReview, item: ReviewItem) -> bool:
    """Admins decide on anyone but themselves; a lead on the ordinary members of their teams."""
    return (
        review.is_open
        and item.is_pending
        and item.person.username != access.username
        and access.may_act_on_team(item.team_id)
        and access.may_act_on(item.person)
    )


def reviews_waiting(access: Access) -> list[tuple[AccessReview, int]]:
    """Open reviews with decisions pending in the viewer's teams, and how many, for the
    dashboard."""
    teams = _teams(access)
    waiting = []
    for review in reviews.reviews_visible(teams).filter(state=AccessReview.State.OPEN):
        pending = reviews.review_items(review, teams).filter(decision=ReviewItem.Decision.PENDING)
        count = pending.exclude(person__username=access.username).count()
        if count:
            waiting.append((review, count))
    return waiting


@staff_required
def review_list(request: HttpRequest) -> HttpResponse:
    teams = _teams(access_for(request))
    rows = [
        (review, reviews.review_counts(review, reviews.review_items(review, teams)))
        for review in reviews.reviews_visible(teams)
    ]
    return render(request, "web/review_list.html", {"rows": rows})


@admin_required
def review_create(request: HttpRequest) -> HttpResponse:
    team_names = list(Team.objects.values_list("name", flat=True))
    form = ReviewForm(request.POST or None, team_names=team_names)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["team"]
        try:
            review = reviews.review_open(
                team=Team.objects.get(name=name) if name else None,
                deadline=form.cleaned_data["deadline"], title=form.cleaned_data["title"],
                actor=_actor(request), requested_by=request.user,
            )  # fmt: skip
        except AccessAdminError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request, f"Review #{review.pk} ({review.scope}) is open for "
                f"{review.items.count()} people.",
            )  # fmt: skip
            return redirect("review_detail", review_id=review.pk)
    return render(request, "web/review_form.html", {"form": form})


@staff_required
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    access = access_for(request)
    review = _review(request, review_id)
    items = reviews.review_items(review, _teams(access))
    rows = [
        (item, reviews.holdings_summary(item.holdings), _may_decide(access, review, item))
        for item in items
    ]
    counts = reviews.review_counts(review, items)
    row_error = request.session.pop(ROW_ERROR_SESSION_KEY, None)
    # The dashboard's count: the pending decisions that are the viewer's to make.
    yours = sum(1 for item, _, may_decide in rows if may_decide and item.is_pending)
    context = {
        "review": review,
        "rows": rows,
        "counts": counts,
        "pending_yours": yours,
        "pending_others": counts["pending"] - yours,
        "row_error": row_error,
    }
    return render(request, "web/review_detail.html", context)


def _not_yours(request: HttpRequest, item: ReviewItem) -> HttpResponse:
    return no_access(
        request, "not theirs to decide",
        f"{item.person.username}'s access is for a platform admin to decide: they are a "
        "platform admin or a team lead, or it is your own.",
    )  # fmt: skip


@staff_required
def review_decide(request: HttpRequest, review_id: int, item_id: int) -> HttpResponse:
    """Confirm at once; revoke after a preview of the offboarding it starts, shown by a GET
    (post/redirect/get), so Back after the revocation never sends the form again."""
    from web.views.common import preview_shown_by_get, submitted  # web.views imports us

    sent = submitted(request)
    if sent is None:
        return HttpResponseNotAllowed(["POST"])
    access = access_for(request)
    review = _review(request, review_id)
    item = visible_or_404(request, reviews.review_items(review, _teams(access)), pk=item_id)
    if not (access.may_act_on(item.person) and item.person.username != access.username):
        return _not_yours(request, item)
    form = DecisionForm(sent)
    if not form.is_valid():
        return _row_error(request, review, item, f"Nothing was changed: {form.errors.as_text()}")
    decision, comment = form.cleaned_data["decision"], form.cleaned_data["comment"].strip()
    shown = {"item": str(item.pk), "comment": comment}
    try:
        if decision == ReviewItem.Decision.REVOKED and sent.get("action") != "revoke":
            if not comment:
                raise AccessAdminError(
                    "Say why the access is revoked (a comment); nothing was changed."
                )
            if request.method == "POST":
                return preview_shown_by_get(request)
            return _revoke_preview(request, review, item, comment)
        if decision == ReviewItem.Decision.REVOKED and not preview_matches(
            sent.get("preview_token", ""), "review_revoke", shown
        ):
            messages.error(request, NOT_PREVIEWED)
            return _revoke_preview(request, review, item, comment)
        item = reviews.review_decide(
            item=item, decision=decision, comment=comment, actor=_actor(request),
            user=request.user, allowed_teams=_teams(access),
        )  # fmt: skip
    except AccessAdminError as error:
        return _row_error(request, review, item, str(error))
    if item.offboard_run is not None:
        messages.success(
            request, f"{item.person.username}'s access is revoked: offboarding is queued as run "
            f"#{item.offboard_run.pk}.",
        )  # fmt: skip
    else:
        messages.success(request, f"{item.person.username}'s access is confirmed.")
    return redirect("review_detail", review_id=review.pk)


@staff_required
def review_confirm_all(request: HttpRequest, review_id: int) -> HttpResponse:
    """Every decision still pending that is the viewer's to make, listed with what each person
    holds; its button confirms exactly those, then goes back to the review."""
    from web.views.common import preview_then_commit  # web.views imports this module

    access = access_for(request)
    review = _review(request, review_id)
    items = reviews.review_items(review, _teams(access)).filter(
        decision=ReviewItem.Decision.PENDING
    )
    remaining = [item for item in items if _may_decide(access, review, item)]
    shown = {"review": str(review.pk), "items": ",".join(str(item.pk) for item in remaining)}
    problems: list[str] = []

    def confirm() -> HttpResponse:
        if not remaining:
            raise AccessAdminError("Nothing is left for you to decide; nothing was changed.")
        count = reviews.review_confirm_all(
            items=remaining, actor=_actor(request), user=request.user,
            allowed_teams=_teams(access),
        )  # fmt: skip
        messages.success(request, f"{count} {'person' if count == 1 else 'people'} confirmed.")
        return redirect("review_detail", review_id=review.pk)

    gated = preview_then_commit(
        request, kind="review_confirm_all", shown=shown,
        preview=lambda: [(item, reviews.holdings_summary(item.holdings)) for item in remaining],
        commit=confirm, refuse=lambda field, error: problems.append(str(error)),
    )  # fmt: skip
    if gated.response:
        return gated.response
    context = {
        "review": review,
        "remaining": gated.preview,
        "preview_token": gated.token,
        "problems": problems,
    }
    status = 400 if problems else 200
    return render(request, "web/review_confirm_all.html", context, status=status)


ROW_ERROR_SESSION_KEY = "review_row_error"


def _row_error(
    request: HttpRequest, review: AccessReview, item: ReviewItem, message: str
) -> HttpResponse:
    """Back to the review, the refusal shown on the person's own row, which gets the focus."""
    request.session[ROW_ERROR_SESSION_KEY] = {"item": item.pk, "message": message}
    return redirect(f"{reverse('review_detail', args=[review.pk])}#item-{item.pk}")


def _revoke_preview(
    request: HttpRequest, review: AccessReview, item: ReviewItem, comment: str
) -> HttpResponse:
    if not comment:
        raise AccessAdminError("Say why the access is revoked (a comment); nothing was changed.")
    reason = f"access review #{review.pk}: {comment}"
    changes = services.person_offboard_preview(person=item.person, reason=reason)
    context = {
        "review": review,
        "item": item,
        "comment": comment,
        "preview": changes_in_words(changes, person=item.person, team=item.person.team),
        "preview_token": preview_token("review_revoke", {"item": str(item.pk), "comment": comment}),
    }
    return render(request, "web/review_revoke.html", context)


@require_POST
@admin_required
def review_close(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _review(request, review_id)
    try:
        reviews.review_close(review=review, actor=_actor(request))
    except AccessAdminError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Review #{review.pk} is closed.")
    return redirect("review_detail", review_id=review.pk)


@staff_required
def review_export(request: HttpRequest, review_id: int) -> HttpResponse:
    """The review as CSV: who held what, who decided what and when (a lead: their teams')."""
    review = _review(request, review_id)
    items = reviews.review_items(review, _teams(access_for(request)))
    rows = reviews.review_export_rows(review=review, actor=_actor(request), items=items)
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="access-review-{review.pk}.csv"'
    return response


@staff_required
def review_print(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _review(request, review_id)
    items = reviews.review_items(review, _teams(access_for(request)))
    reviews.review_export_rows(review=review, actor=_actor(request), items=items, form_of="print")
    context = {
        "review": review,
        "rows": [(item, reviews.holdings_summary(item.holdings)) for item in items],
        "counts": reviews.review_counts(review, items),
        "printed_at": timezone.now(),
    }
    return render(request, "web/review_print.html", context)
