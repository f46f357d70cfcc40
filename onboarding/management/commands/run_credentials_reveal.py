from onboarding.credentials import credentials_reveal
from onboarding.management.commands._base import LifecycleCommand
from onboarding.models import Credential
from onboarding.selectors import run_get


class Command(LifecycleCommand):
    help = "Show a run's temporary password and OTP enrolment URI, once; they are erased after."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)

    def handle(self, *args, **options):
        run = run_get(options["run_id"])
        revealed = credentials_reveal(run=run, actor=self.actor())
        self.stdout.write(f"Credentials for {run.person.username} (shown once, now erased):")
        for kind in Credential.Kind:
            if kind in revealed:
                self.stdout.write(f"  {kind.label}: {revealed[kind]}")
