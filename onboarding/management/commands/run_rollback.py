from onboarding.errors import RunFailed
from onboarding.management.commands._base import LifecycleCommand
from onboarding.models import LifecycleRun
from onboarding.selectors import run_get
from onboarding.services import run_rollback, run_rollback_preview


class Command(LifecycleCommand):
    help = "Undo a failed run's completed steps, newest first (--dry-run lists them)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        run = run_get(options["run_id"])
        if options["dry_run"]:
            self.stdout.write(f"Rolling back run #{run.pk} ({run.kind} {run.person.username}) "
                              "would undo, newest first:")  # fmt: skip
            self.preview_print(run_rollback_preview(run=run), verdicts=("", "would undo"))
            return
        run = run_rollback(run=run, actor=self.actor())
        self.stdout.write(f"Rollback of run #{run.pk} queued.")
        if options["wait"]:
            run = self.wait(run, options["timeout"])
            self.steps_print(run)
            self.stdout.write(f"Run #{run.pk} is {run.state}.")
            if run.state != LifecycleRun.State.ROLLED_BACK:
                raise RunFailed(f"Rollback stopped: {run.error}")
