import csv

from onboarding.exports import csv_cell
from onboarding.management.commands._base import LifecycleCommand, date_argument
from onboarding.reviews import (
    holdings_words,
    review_close,
    review_counts,
    review_export_rows,
    review_get,
    review_items,
    review_open,
    review_remind,
    reviews_visible,
)
from onboarding.selectors import team_get


class Command(LifecycleCommand):
    help = (
        "Access reviews: `open [--team T] --deadline YYYY-MM-DD` (every team without --team), "
        "`list`, `export ID [--csv]`, `close ID` (before every item is decided) and `remind` "
        "(what beat does every REVIEW_REMIND_SECONDS)."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        opening = actions.add_parser("open", help="open a review of a team, or of every team")
        opening.add_argument("--team", help="the team (default: every team)")
        opening.add_argument("--deadline", type=date_argument, required=True)
        opening.add_argument("--title", default="")
        actions.add_parser("list", help="every review, newest first")
        exporting = actions.add_parser("export", help="who held what, who decided what and when")
        exporting.add_argument("review_id", type=int)
        exporting.add_argument(
            "--csv", dest="as_csv", action="store_true", help="CSV on standard output"
        )
        closing = actions.add_parser("close", help="close a review with decisions missing")
        closing.add_argument("review_id", type=int)
        actions.add_parser("remind", help="remind leads, and admins past a deadline, now")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_open(self, *, team, deadline, title, **_):
        review = review_open(
            team=team_get(team) if team else None, deadline=deadline, title=title,
            actor=self.actor(),
        )  # fmt: skip
        count = review.items.count()
        self.stdout.write(
            f"Review #{review.pk} ({review.scope}) is open: {count} people to decide on by "
            f"{review.deadline}."
        )

    def handle_list(self, **_):
        reviews = list(reviews_visible(None))
        if not reviews:
            self.stdout.write("No access reviews yet.")
        for review in reviews:
            counts = review_counts(review)
            self.stdout.write(
                f"#{review.pk}  {review.state:<6}  {review.scope:<24}  deadline {review.deadline}"
                f"  pending {counts['pending']}  confirmed {counts['confirmed']}"
                f"  revoked {counts['revoked']}  left {counts['left']}"
            )

    def handle_export(self, *, review_id, as_csv: bool, **_):
        review = review_get(review_id)
        rows = review_export_rows(
            review=review, actor=self.actor(), form_of="csv" if as_csv else "text"
        )
        if as_csv:
            _csv_write(self.stdout, rows)
            return
        self.stdout.write(
            f"Access review #{review.pk} ({review.scope}), opened {review.opened_at:%Y-%m-%d} by "
            f"{review.actor}, deadline {review.deadline}, {review.get_state_display().lower()}."
        )
        for item in review_items(review, None):
            when = f" at {item.decided_at:%Y-%m-%d %H:%M}" if item.decided_at else ""
            who = f" by {item.decided_by}{when}" if item.decided_by else ""
            self.stdout.write(f"{item.person.username} ({item.team.name}): {item.decision}{who}")
            if item.comment:
                self.stdout.write(f"    comment: {item.comment}")
            for label, text in holdings_words(item.holdings):
                self.stdout.write(f"    {label}: {text}")

    def handle_close(self, *, review_id, **_):
        review = review_close(review=review_get(review_id), actor=self.actor())
        self.stdout.write(f"Review #{review.pk} is closed.")

    def handle_remind(self, **_):
        done = review_remind()
        for line in done.reminded:
            self.stdout.write(f"reminded {line}")
        for review_id in done.escalated:
            self.stdout.write(f"told the admins of review #{review_id}")
        for line in done.failed:
            self.stdout.write(f"not sent: {line}")
        if not (done.reminded or done.escalated or done.failed):
            self.stdout.write("Nobody needed reminding.")


def _csv_write(out, rows: list[list[str]]) -> None:
    """CSV with the cells a spreadsheet would run as formulas made text."""
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
