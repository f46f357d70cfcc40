from onboarding import team_settings
from onboarding.management.commands._base import LifecycleCommand
from onboarding.services import team_set


def _hub_group(value: str) -> str:
    return f"jupyterhub.group={value}"


class Command(LifecycleCommand):
    help = "Create or change a team; its FreeIPA group is created when missing."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--group", help="the team's FreeIPA group")
        parser.add_argument(
            "--lead", action="append", dest="leads",
            help="a team lead (repeat); given at all, the exact list: other leads are removed",
        )  # fmt: skip
        parser.add_argument("--no-leads", action="store_true", help="remove every lead")
        parser.add_argument(
            "--policy-arn", action="append", dest="policy_arns", help="an IAM policy (repeat)"
        )
        parser.add_argument(
            "--jupyterhub-group", action="append", dest="settings", type=_hub_group,
            metavar="GROUP", help="the same as --setting jupyterhub.group=GROUP",
        )  # fmt: skip
        parser.add_argument(
            "--setting", action="append", dest="settings", default=[],
            metavar="SYSTEM.SETTING=VALUE",
            help="a system's team setting (repeat), e.g. postgres.roles=analysts,readers",
        )  # fmt: skip

    def handle(self, *args, **options):
        team, created = team_set(
            name=options["name"],
            group=options["group"],
            leads=[] if options["no_leads"] else options["leads"],
            policy_arns=options["policy_arns"],
            system_settings=team_settings.pairs_parse(options["settings"]),
            actor=self.actor(),
        )
        verb = "Created" if created else "Changed"
        leads = ", ".join(team.leads.values_list("username", flat=True)) or "none"
        self.stdout.write(
            f"{verb} team {team.name}: FreeIPA group {team.freeipa_group}, leads {leads}, "
            f"policies {', '.join(team.iam_policy_arns) or 'none'}"
            + "".join(
                f", {name} {text or 'none'}"
                for name, text in team_settings.team_settings_text(team).items()
            )
            + "."
        )
