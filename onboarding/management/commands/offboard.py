from onboarding.management.commands._base import LifecycleCommand
from onboarding.services import offboard_preview, person_offboard


class Command(LifecycleCommand):
    help = (
        "Offboard a person: remove JupyterHub, IAM role, EFS access point (data stays), OTP tokens "
        "and groups, then disable and preserve the FreeIPA user."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", required=True)
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        if options["dry_run"]:
            self.stdout.write(f"Offboarding {options['username']} would:")
            self.preview_print(
                offboard_preview(username=options["username"], reason=options["reason"])
            )
            return
        run = person_offboard(
            username=options["username"], reason=options["reason"], actor=self.actor()
        )
        self.queued_report(run, options)
