from django.core.management.base import CommandParser

from onboarding.errors import InvalidInput
from onboarding.management.commands._base import LifecycleCommand
from onboarding.models import Finding
from onboarding.selectors import team_get
from onboarding.services.orphans import orphan_adopt, orphan_get, orphan_remove


class Command(LifecycleCommand):
    help = (
        "What reconciliation found that belongs to no person AccessAdmin knows: list the open "
        "orphans, remove one from its system, or adopt its owner into a team."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="every open orphan with its id")
        remove = actions.add_parser("remove", help="delete the orphan in its system")
        remove.add_argument("id", type=int)
        remove.add_argument(
            "--confirm", required=True, metavar="USERNAME",
            help="the orphan's owner, typed again: nothing is removed without it",
        )  # fmt: skip
        adopt = actions.add_parser(
            "adopt", help="take its owner in as a person of TEAM; a repair run gives the rest"
        )
        adopt.add_argument("id", type=int)
        adopt.add_argument("--team", required=True)
        adopt.add_argument("--wait", action="store_true", help="wait until the run finishes")
        adopt.add_argument("--timeout", type=float, default=600, help="seconds to --wait")

    def handle(self, *args, **options) -> None:
        getattr(self, f"handle_{options['action']}")(options)

    def handle_list(self, options: dict) -> None:
        orphans = Finding.objects.open().filter(kind=Finding.Kind.ORPHAN)
        if not orphans:
            self.stdout.write("No open orphans.")
        for finding in orphans:
            self.stdout.write(f"#{finding.pk:<6} {finding.system:<10} {finding.detail}")

    def handle_remove(self, options: dict) -> None:
        finding = orphan_get(options["id"])
        if options["confirm"] != finding.username:
            raise InvalidInput(
                f"--confirm {options['confirm']!r} is not the orphan's owner "
                f"({finding.username}); nothing was removed."
            )
        orphan_remove(finding=finding, actor=self.actor())
        self.stdout.write(f"{finding.system}: {finding.subject} ({finding.username}) is removed.")

    def handle_adopt(self, options: dict) -> None:
        finding = orphan_get(options["id"])
        team = team_get(options["team"])
        run = orphan_adopt(finding=finding, team=team, actor=self.actor())
        self.stdout.write(f"{finding.username} is a person of team {team.name} now.")
        self.queued_report(run, options)
