"""What the lifecycle commands share: the acting user, error handling, waiting and printing."""

import argparse
import getpass
import json
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from onboarding.errors import EXIT_FAILED, AccessAdminError, RunFailed
from onboarding.models import LifecycleRun
from onboarding.runner import PlannedChange


class LifecycleCommand(BaseCommand):
    def actor(self) -> str:
        return f"cli:{getpass.getuser()}"

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except AccessAdminError as error:
            raise CommandError(str(error), returncode=error.exit_code) from None

    def add_wait_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="show what would change")
        parser.add_argument("--wait", action="store_true", help="wait until the run finishes")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to --wait")

    def preview_print(
        self,
        changes: list[PlannedChange],
        *,
        verdicts: tuple[str, str] = ("already done", "would change"),
    ) -> None:
        if not changes:
            self.stdout.write("  nothing")
            return
        width = max(len(change.step) for change in changes)
        for change in changes:
            verdict = verdicts[0] if change.already_done else verdicts[1]
            self.stdout.write(f"  {change.step:<{width}}  {change.system:<10}  {verdict:<12}  "
                              f"{change.description}")  # fmt: skip

    def queued_report(self, run: LifecycleRun, options: dict) -> None:
        self.stdout.write(f"Run #{run.pk} ({run.kind} {run.person.username}) queued.")
        if run.dispatched is False:
            self.stdout.write(
                "The broker is unreachable: the run is saved and starts when the broker is back."
            )
        if options["wait"]:
            run = self.wait(run, options["timeout"])
            self.steps_print(run)
            if run.state != LifecycleRun.State.SUCCEEDED:
                raise RunFailed(
                    f"Run #{run.pk} {run.state}: {run.error}\n"
                    f"Resume it with `manage.py run_resume {run.pk}` or undo it with "
                    f"`manage.py run_rollback {run.pk}`."
                )
            self.stdout.write(self.style.SUCCESS(f"Run #{run.pk} succeeded."))
            if run.credentials.filter(ciphertext__isnull=False).exists():
                self.stdout.write(
                    "Reveal the one-time credentials with "
                    f"`manage.py run_credentials_reveal {run.pk}`."
                )

    def wait(self, run: LifecycleRun, timeout: float) -> LifecycleRun:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if not run.is_active:
                return run
            time.sleep(0.25)
        raise CommandError(
            f"Run #{run.pk} is still {run.state} after {timeout:.0f}s; "
            f"follow it with `manage.py lifecycle_status {run.person.username}`.",
            returncode=EXIT_FAILED,
        )

    def steps_print(self, run: LifecycleRun) -> None:
        for step in run.steps.order_by("position"):
            error = f"  {step.last_error}" if step.last_error else ""
            self.stdout.write(f"  {step.name:<28} {step.state:<8} attempts={step.attempts}{error}")


def as_json(value) -> str:
    return json.dumps(value, indent=2, default=str)


def date_argument(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None
