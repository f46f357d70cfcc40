from onboarding.management.commands._base import LifecycleCommand
from onboarding.services import SYSTEM_ACTOR, lifecycle_due


class Command(LifecycleCommand):
    help = (
        "Offboard the active people whose end date has come, then start the onboardings whose "
        "start date has (beat does this every LIFECYCLE_DUE_SECONDS)."
    )

    def handle(self, *args, **options):
        for outcome in lifecycle_due(actor=SYSTEM_ACTOR):
            if outcome.run:
                self.stdout.write(
                    f"{outcome.kind:<9} {outcome.username}: run #{outcome.run.pk} queued"
                )
            else:
                self.stdout.write(f"{outcome.kind:<9} {outcome.username}: {outcome.note}")
