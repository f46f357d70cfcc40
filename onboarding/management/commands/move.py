from onboarding.management.commands._base import LifecycleCommand
from onboarding.services import move_preview, person_move


class Command(LifecycleCommand):
    help = "Move a person to another team: FreeIPA groups, IAM policies and JupyterHub group."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--team", required=True)
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        if options["dry_run"]:
            self.stdout.write(f"Moving {options['username']} to {options['team']} would:")
            self.preview_print(move_preview(username=options["username"], team=options["team"]))
            return
        run = person_move(username=options["username"], team=options["team"], actor=self.actor())
        self.queued_report(run, options)
