from onboarding.errors import RunFailed
from onboarding.management.commands._base import LifecycleCommand
from onboarding.preflight import preflight_run
from onboarding.systems import Check

MARKS = {Check.OK: "ok", Check.WARNING: "WARNING", Check.FAILED: "FAILED"}


class Command(LifecycleCommand):
    help = (
        "Check the broker, the web login's directory and every enabled system with the "
        "configured credentials: the login, each right a run needs, password expiry and quotas. "
        "Exit 0 only when a run could succeed; each failure says how to put it right."
    )

    def handle(self, *args, **options):
        found = preflight_run()
        for label, check in found:
            line = f"{label}: {MARKS[check.verdict]}, {check.subject}: {check.detail}"
            self.stdout.write(line + (f"\n    to fix: {check.fix}" if check.fix else ""))
        failed = sorted({label for label, check in found if check.failed})
        if failed:
            raise RunFailed(f"Preflight failed for {', '.join(failed)}.")
        self.stdout.write(self.style.SUCCESS("Preflight passed: a run could succeed."))
