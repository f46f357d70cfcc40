from onboarding.management.commands._base import LifecycleCommand
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
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        fields = {
            "username": options["username"],
            "first_name": options["first_name"],
            "last_name": options["last_name"],
            "email": options["email"],
            "team": team_get(options["team"]),
        }
        if options["dry_run"]:
            self.stdout.write(f"Onboarding {options['username']} would:")
            self.preview_print(person_onboard_preview(**fields))
            return
        self.queued_report(person_onboard(**fields, actor=self.actor()), options)
