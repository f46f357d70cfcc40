from onboarding.credentials import credentials_reveal
from onboarding.management.commands._base import LifecycleCommand
from onboarding.models import Credential, LifecycleRun
from onboarding.validation import InvalidInput


class Command(LifecycleCommand):
    help = "Show a run's temporary password and OTP enrolment URI, once; they are erased after."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)

    def handle(self, *args, **options):
        run = LifecycleRun.objects.filter(pk=options["run_id"]).select_related("person").first()
        if run is None:
            raise InvalidInput(f"There is no run #{options['run_id']}.")
        revealed = credentials_reveal(run=run, actor=self.actor())
        self.stdout.write(f"Credentials for {run.person.username} (shown once, now erased):")
        for kind in Credential.Kind:
            if kind in revealed:
                self.stdout.write(f"  {kind.label}: {revealed[kind]}")
