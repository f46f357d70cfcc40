from onboarding.management.commands._base import LifecycleCommand
from onboarding.models import LifecycleRun
from onboarding.services import run_rollback_request
from onboarding.validation import InvalidInput


class Command(LifecycleCommand):
    help = "Undo a failed run's completed steps, newest first."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=600)

    def handle(self, *args, **options):
        run = LifecycleRun.objects.filter(pk=options["run_id"]).select_related("person").first()
        if run is None:
            raise InvalidInput(f"There is no run #{options['run_id']}.")
        run = run_rollback_request(run=run, actor=self.actor())
        self.stdout.write(f"Rollback of run #{run.pk} queued.")
        if options["wait"]:
            run = self.wait(run, options["timeout"])
            self.steps_print(run)
            self.stdout.write(f"Run #{run.pk} is {run.state}.")
            if run.state != LifecycleRun.State.ROLLED_BACK:
                raise InvalidInput(f"Rollback stopped: {run.error}")
