from onboarding.management.commands._base import LifecycleCommand, date_argument
from onboarding.selectors import team_get
from onboarding.services import person_onboard, person_onboard_preview


class Command(LifecycleCommand):
    help = "Onboard a person into every enabled system (FreeIPA, EFS, IAM, JupyterHub by default)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--first-name", required=True)
        parser.add_argument("--last-name", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--team", required=True)
        parser.add_argument(
            "--start-date", type=date_argument, metavar="YYYY-MM-DD",
            help="a later day: they are onboarded then, not now",
        )  # fmt: skip
        parser.add_argument(
            "--end-date", type=date_argument, metavar="YYYY-MM-DD",
            help="they are offboarded once this day comes",
        )  # fmt: skip
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        fields = {
            "username": options["username"],
            "first_name": options["first_name"],
            "last_name": options["last_name"],
            "email": options["email"],
            "team": team_get(options["team"]),
            "start_date": options["start_date"],
            "end_date": options["end_date"],
        }
        if options["dry_run"]:
            self.stdout.write(f"Onboarding {options['username']} would:")
            self.preview_print(person_onboard_preview(**fields))
            return
        run = person_onboard(**fields, actor=self.actor())
        if run is None:
            self.stdout.write(
                f"{options['username']} waits for their start date, {options['start_date']}: "
                "their onboarding starts then."
            )
            return
        self.queued_report(run, options)
