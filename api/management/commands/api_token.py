from django.conf import settings
from django.core.management.base import CommandParser

from api.models import ApiToken
from api.selectors import api_tokens_list
from api.services import api_token_create, api_token_revoke
from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import team_get


class Command(LifecycleCommand):
    help = "Make, list or revoke the bearer tokens of the REST API (/api/v1/)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token; it is printed once")
        create.add_argument("name", help="what the token is for, e.g. hr-system")
        create.add_argument("--role", required=True, choices=["admin", "lead"])
        create.add_argument("--team", help="the team a lead token acts for")
        create.add_argument(
            "--scim", action="store_true",
            help="a token for an identity provider: accepted at /scim/v2/ only (role admin)",
        )  # fmt: skip
        owner = create.add_mutually_exclusive_group(required=True)
        owner.add_argument(
            "--owner", metavar="USERNAME",
            help="the directory account it acts for: it stops working once they lose the role",
        )  # fmt: skip
        owner.add_argument(
            "--service", action="store_true",
            help="a service token, owned by the platform admins rather than a person",
        )  # fmt: skip
        create.add_argument(
            "--expires-days", type=int,
            help="days until it expires (default and most: API_TOKEN_MAX_DAYS)",
        )  # fmt: skip
        actions.add_parser("list", help="every token, its role, team, owner and state")
        revoke = actions.add_parser("revoke", help="stop a token working at once")
        revoke.add_argument("name")

    def handle(self, *args, **options) -> None:
        getattr(self, f"handle_{options['action']}")(options)

    def handle_create(self, options: dict) -> None:
        team = team_get(options["team"]) if options["team"] else None
        token, secret = api_token_create(
            name=options["name"], role=options["role"], team=team,
            expires_days=options["expires_days"] or settings.API_TOKEN_MAX_DAYS,
            owner=options["owner"] or "", actor=self.actor(),
            scope=ApiToken.Scope.SCIM if options["scim"] else ApiToken.Scope.API,
        )  # fmt: skip
        self.stdout.write(secret)
        self.stderr.write(
            f"{'SCIM t' if token.scope == ApiToken.Scope.SCIM else 'T'}oken {token.name} "
            f"({token.get_role_display().lower()}"
            f"{f' of {team.name}' if team else ''}) expires {token.expires_at:%Y-%m-%d %H:%M %Z}. "
            "It is shown only now: keep it in a secret store."
        )

    def handle_list(self, options: dict) -> None:
        tokens = list(api_tokens_list())
        if not tokens:
            self.stdout.write("No API tokens.")
            return
        self.stdout.write(
            f"{'NAME':<24} {'ROLE':<6} {'SCOPE':<5} {'TEAM':<16} {'OWNER':<16} {'PREFIX':<10} "
            f"{'STATE':<8} "
            f"{'EXPIRES':<17} {'LAST USED':<17} CREATED BY"
        )
        for token in tokens:
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(
                f"{token.name:<24} {token.role:<6} {token.scope:<5} "
                f"{token.team.name if token.team else '-':<16} "
                f"{token.owner or '(service)':<16} {token.prefix:<10} {token.status:<8} "
                f"{token.expires_at:%Y-%m-%d %H:%M} {used:<17} {token.created_by}"
            )

    def handle_revoke(self, options: dict) -> None:
        token = api_token_revoke(name=options["name"], actor=self.actor())
        self.stdout.write(f"Token {token.name} ({token.prefix}…) is revoked.")
