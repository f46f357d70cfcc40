import json

from django.core.management.base import CommandError

from onboarding.errors import EXIT_FAILED
from onboarding.management.commands._base import LifecycleCommand
from onboarding.services import findings_repair, reconcile

EVERYONE = "*"


class Command(LifecycleCommand):
    help = (
        "Compare what AccessAdmin believes about its people with what each system holds; print "
        "one finding a line. Exits 1 when anything is found, 0 when all agrees."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON object a line")
        parser.add_argument(
            "--repair",
            nargs="?",
            const=EVERYONE,
            metavar="USERNAME",
            help="start a repair run for everyone with something to repair (or for USERNAME): "
            "missing or wrong objects of active people, leftovers of offboarded ones; orphans "
            "are only reported",
        )

    def handle(self, *args, **options):
        findings = reconcile(actor=self.actor())
        for finding in findings:
            if options["json"]:
                self.stdout.write(
                    json.dumps(
                        {
                            "id": finding.pk,
                            "system": finding.system,
                            "kind": finding.kind,
                            "username": finding.username,
                            "subject": finding.subject,
                            "detail": finding.detail,
                            "first_seen": finding.first_seen.isoformat(),
                        }
                    )
                )
            else:
                who = finding.username or "-"
                self.stdout.write(
                    f"{finding.kind:<10} {finding.system:<10} {who:<20} {finding.detail}"
                )
        if options["repair"] is not None:
            username = None if options["repair"] == EVERYONE else options["repair"]
            for outcome in findings_repair(
                findings=findings, actor=self.actor(), username=username
            ):
                if options["json"]:
                    self.stdout.write(
                        json.dumps(
                            {
                                "repair": outcome.username,
                                "run": outcome.run.pk if outcome.run else None,
                                "kind": outcome.run.kind if outcome.run else None,
                                "note": outcome.note,
                            }
                        )
                    )
                elif outcome.run:
                    self.stdout.write(
                        f"repair     {outcome.username}: run #{outcome.run.pk} "
                        f"({outcome.run.kind}) queued"
                    )
                else:
                    self.stdout.write(f"repair     {outcome.username}: {outcome.note}")
        if findings:
            raise CommandError(
                f"{len(findings)} finding{'s' if len(findings) != 1 else ''}.",
                returncode=EXIT_FAILED,
            )
