from onboarding.errors import AccessAdminError, RunFailed
from onboarding.management.commands._base import LifecycleCommand
from onboarding.systems import enabled


class Command(LifecycleCommand):
    help = (
        "Check each enabled system's settings, then make one harmless call to it with the "
        "configured credentials. Exit 1 when anything is wrong."
    )

    def handle(self, *args, **options):
        failed = []
        for system in enabled():
            problems = system.settings_problems()
            if not problems:
                try:
                    self.stdout.write(f"{system.label}: ok, {system.credentials_check()}")
                    continue
                except AccessAdminError as error:
                    problems = [str(error)]
            failed.append(system.label)
            for problem in problems:
                self.stdout.write(f"{system.label}: FAILED, {problem}")
        if failed:
            raise RunFailed(f"Preflight failed for {', '.join(failed)}.")
