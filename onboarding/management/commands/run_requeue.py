from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import run_get
from onboarding.services import run_requeue


class Command(LifecycleCommand):
    help = (
        "Send a stuck run to the workers again: queued and never picked up, or held by a worker "
        "that went silent. A run whose worker is alive is left alone (exit 2)."
    )

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--wait", action="store_true", help="wait until the run finishes")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to --wait")

    def handle(self, *args, **options):
        self.queued_report(run_requeue(run=run_get(options["run_id"]), actor=self.actor()), options)
