from onboarding.broker import broker_persistence, broker_persistence_problem
from onboarding.errors import AccessAdminError, RunFailed
from onboarding.management.commands._base import LifecycleCommand
from onboarding.systems import enabled


class Command(LifecycleCommand):
    help = (
        "Check the broker, then each enabled system's settings and one harmless call to it with "
        "the configured credentials. Exit 1 when anything is wrong."
    )

    def handle(self, *args, **options):
        failed = []
        fatal, problem = broker_persistence_problem(broker_persistence())
        if fatal:
            failed.append("the broker")
        verdict = "FAILED" if fatal else "WARNING" if problem else "ok"
        self.stdout.write(f"Broker: {verdict}, {problem or 'Redis keeps an append-only file'}")
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
