from onboarding.management.commands._base import LifecycleCommand
from onboarding.services import onboard_preview, person_onboard


class Command(LifecycleCommand):
    help = (
        "Onboard a person: FreeIPA user, groups, OTP token, EFS access point, IAM role, JupyterHub."
    )

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
            "team": options["team"],
        }
        if options["dry_run"]:
            self.stdout.write(f"Onboarding {options['username']} would:")
            self.preview_print(onboard_preview(**fields))
            return
        self.queued_report(person_onboard(**fields, actor=self.actor()), options)
