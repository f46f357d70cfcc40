from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import person_get, team_get
from onboarding.services import person_move, person_move_preview


class Command(LifecycleCommand):
    help = "Move a person to another team: FreeIPA groups, IAM policies and JupyterHub group."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--team", required=True)
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        person, team = person_get(options["username"]), team_get(options["team"])
        if options["dry_run"]:
            self.stdout.write(f"Moving {person.username} to {team.name} would:")
            self.preview_print(person_move_preview(person=person, team=team))
            return
        self.queued_report(person_move(person=person, team=team, actor=self.actor()), options)
