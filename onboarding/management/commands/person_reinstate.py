from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import person_get, team_get
from onboarding.services import person_reinstate, person_reinstate_preview


class Command(LifecycleCommand):
    help = (
        "Restore an offboarded person's preserved FreeIPA user and give their access back, in "
        "their own team or, with --team, in another."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="why they come back (audited)")
        parser.add_argument("--team", help="the team they come back to (default: their own)")
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        person = person_get(options["username"])
        team = team_get(options["team"]) if options["team"] else person.team
        asked = {"person": person, "reason": options["reason"], "team": team}
        if options["dry_run"]:
            self.stdout.write(f"Reinstating {person.username} into team {team.name} would:")
            self.preview_print(person_reinstate_preview(**asked))
            return
        self.queued_report(person_reinstate(**asked, actor=self.actor()), options)
