from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import person_get
from onboarding.services import person_offboard, person_offboard_preview


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
        person = person_get(options["username"])
        if options["dry_run"]:
            self.stdout.write(f"Offboarding {person.username} would:")
            self.preview_print(person_offboard_preview(person=person, reason=options["reason"]))
            return
        run = person_offboard(person=person, reason=options["reason"], actor=self.actor())
        self.queued_report(run, options)
