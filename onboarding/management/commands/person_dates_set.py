from onboarding.management.commands._base import LifecycleCommand, date_argument
from onboarding.selectors import person_get
from onboarding.services import person_dates_set


class Command(LifecycleCommand):
    help = "Extend, bring forward or clear a person's end date (they are offboarded once it comes)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        when = parser.add_mutually_exclusive_group(required=True)
        when.add_argument("--end-date", type=date_argument, metavar="YYYY-MM-DD")
        when.add_argument("--clear-end-date", action="store_true")

    def handle(self, *args, **options):
        person = person_get(options["username"])
        end_date = None if options["clear_end_date"] else options["end_date"]
        person = person_dates_set(person=person, end_date=end_date, actor=self.actor())
        self.stdout.write(f"{person.username}'s end date is now {person.end_date or 'unset'}.")
