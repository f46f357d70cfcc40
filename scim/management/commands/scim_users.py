from django.core.management.base import CommandParser

from onboarding.management.commands._base import LifecycleCommand
from scim.models import ScimUser


class Command(LifecycleCommand):
    help = (
        "The users identity providers provisioned over SCIM: their person's status, or why they "
        "wait (no team named yet, or sent inactive)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--waiting", action="store_true", help="only those not yet onboarded (no person)"
        )

    def handle(self, *args, **options) -> None:
        users = ScimUser.objects.select_related("person__team", "team").order_by("username")
        if options["waiting"]:
            users = users.filter(person__isnull=True, deleted_at__isnull=True)
        if not users:
            self.stdout.write("No SCIM users." if not options["waiting"] else "Nobody waits.")
            return
        self.stdout.write(f"{'USERNAME':<24} {'SCIM USERNAME':<32} {'BY':<20} STATE")
        for user in users:
            self.stdout.write(
                f"{user.username:<24} {user.user_name[:32]:<32} {user.created_by:<20} "
                f"{_state(user)}"
            )


def _state(user: ScimUser) -> str:
    gone = " (deleted in SCIM)" if user.deleted_at else ""
    if user.person is not None:
        return f"{user.person.get_status_display().lower()} in {user.person.team.name}{gone}"
    if user.deleted_at:
        return "deleted in SCIM before being onboarded"
    if user.active is False:
        return "waits: sent inactive"
    if user.team is None:
        return "waits: no team named (a group membership or SCIM_TEAM_ATTRIBUTE)"
    return f"waits to be onboarded into {user.team.name}"
