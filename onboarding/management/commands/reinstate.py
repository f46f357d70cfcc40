from onboarding.management.commands._base import LifecycleCommand
from onboarding.services import person_reinstate, reinstate_preview


class Command(LifecycleCommand):
    help = "Restore an offboarded person's preserved FreeIPA user and give their access back."

    def add_arguments(self, parser):
        parser.add_argument("username")
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        if options["dry_run"]:
            self.stdout.write(f"Reinstating {options['username']} would:")
            self.preview_print(reinstate_preview(username=options["username"]))
            return
        run = person_reinstate(username=options["username"], actor=self.actor())
        self.queued_report(run, options)
