from onboarding.management.commands._base import LifecycleCommand
from onboarding.models import LifecycleRun
from onboarding.services import run_resume
from onboarding.validation import InvalidInput


class Command(LifecycleCommand):
    help = "Resume a failed run from its failed step."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        run = LifecycleRun.objects.filter(pk=options["run_id"]).select_related("person").first()
        if run is None:
            raise InvalidInput(f"There is no run #{options['run_id']}.")
        self.queued_report(run_resume(run=run, actor=self.actor()), options)
