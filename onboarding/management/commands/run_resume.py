from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import run_get
from onboarding.services import run_resume, run_resume_preview


class Command(LifecycleCommand):
    help = "Resume a failed run from its failed step (--dry-run shows what it would still do)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        run = run_get(options["run_id"])
        if options["dry_run"]:
            self.stdout.write(f"Resuming run #{run.pk} ({run.kind} {run.person.username}) would:")
            self.preview_print(run_resume_preview(run=run))
            return
        self.queued_report(run_resume(run=run, actor=self.actor()), options)
