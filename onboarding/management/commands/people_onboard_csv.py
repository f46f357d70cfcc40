from pathlib import Path

from onboarding.errors import InvalidInput, RunFailed
from onboarding.management.commands._base import LifecycleCommand
from onboarding.models import LifecycleRun
from onboarding.services import people_onboard_csv, people_onboard_csv_preview
from onboarding.services.bulk import csv_text_decode


class Command(LifecycleCommand):
    help = (
        "Onboard everyone in a CSV file (username,first_name,last_name,email,team; optional "
        "start_date,end_date as YYYY-MM-DD), or no one: every row is checked first, and one bad "
        "row refuses the file. A row whose start date is still to come waits for it (no run yet)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        try:
            text = csv_text_decode(options["file"].read_bytes())
        except OSError as error:
            raise InvalidInput(f"Cannot read {options['file']}: {error.strerror}.") from None
        if options["dry_run"]:
            for row, changes in people_onboard_csv_preview(text=text):
                if row.waits:
                    self.stdout.write(
                        f"Row {row.number}: {row.username} {row.waiting_note}; its onboarding "
                        "would then:"
                    )
                else:
                    self.stdout.write(f"Row {row.number}: onboarding {row.username} would:")
                self.preview_print(changes)
            return
        onboarded = people_onboard_csv(text=text, actor=self.actor())
        runs = onboarded.runs
        for run in runs:
            self.stdout.write(f"Run #{run.pk} ({run.kind} {run.person.username}) queued.")
        for person in onboarded.waiting:
            self.stdout.write(
                f"{person.username} waits for its start date {person.start_date}: no run now; "
                "its onboarding starts then."
            )
        if not options["wait"] or not runs:
            return
        failed = []
        for run in runs:
            run = self.wait(run, options["timeout"])
            self.stdout.write(f"Run #{run.pk} {run.person.username}: {run.state}")
            if run.state != LifecycleRun.State.SUCCEEDED:
                failed.append(run)
        if failed:
            raise RunFailed(
                f"{len(failed)} of {len(runs)} runs did not succeed: "
                + ", ".join(f"#{run.pk} {run.person.username} ({run.error})" for run in failed)
                + "\nResume each with `manage.py run_resume RUN` or undo it with "
                "`manage.py run_rollback RUN`."
            )
        self.stdout.write(self.style.SUCCESS(f"All {len(runs)} runs succeeded."))
