from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import team_get
from onboarding.services import team_members_apply, team_members_apply_preview


class Command(LifecycleCommand):
    help = (
        "Bring a team's current members to what the team now says (its FreeIPA groups, IAM "
        "policies and hub group): a repair run for each active member, changing only what "
        "differs. --dry-run lists each member's changes."
    )

    def add_arguments(self, parser):
        parser.add_argument("team")
        parser.add_argument("--dry-run", action="store_true", help="show what would change")

    def handle(self, *args, team, dry_run, **options):
        found = team_get(team)
        if dry_run:
            previews = team_members_apply_preview(team=found)
            if not previews:
                self.stdout.write(f"Team {found.name} has no active member.")
            for person, changes in previews:
                self.stdout.write(f"{person.username}:")
                self.preview_print(changes)
            return
        outcomes = team_members_apply(team=found, actor=self.actor())
        if not outcomes:
            self.stdout.write(f"Team {found.name} has no member to update.")
        for outcome in outcomes:
            if outcome.run is None:
                self.stdout.write(f"{outcome.username}: {outcome.note}")
            else:
                self.stdout.write(f"{outcome.username}: run #{outcome.run.pk} queued")
