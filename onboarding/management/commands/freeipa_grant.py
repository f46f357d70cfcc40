import getpass
import sys
from pathlib import Path

from django.core.management.base import CommandError

from onboarding.management.commands._base import LifecycleCommand
from onboarding.systems import system


class Command(LifecycleCommand):
    help = (
        "Give a FreeIPA user exactly what AccessAdmin needs, and nothing more (run once, as a "
        "FreeIPA admin): one role holding one privilege with FreeIPA's user, group and "
        "preserved-user permissions it uses and its own OTP token permissions. Safe to run "
        "again; prints what it changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="the FreeIPA user AccessAdmin logs in as")
        parser.add_argument("--admin", default="admin", help="a FreeIPA admin (default: admin)")
        parser.add_argument(
            "--admin-password-file",
            type=Path,
            help="read the admin's password from this file (default: ask, or read stdin)",
        )
        parser.add_argument(
            "--pass-sync",
            action="store_true",
            help="also print how to make the account a password-sync manager, which enrolment "
            "needs under a grace limit of 0 (opt-in: its password sets are not expired and "
            "skip FreeIPA's policy, which AccessAdmin then applies)",
        )

    def handle(self, *args, username, admin, admin_password_file, pass_sync, **options):
        if username == admin:
            raise CommandError("Grant the rights to the service account, not to the admin.")
        changes = system("freeipa").service_account_grant(
            username=username,
            admin=admin,
            admin_password=self.admin_password(admin, admin_password_file),
        )
        for change in changes:
            self.stdout.write(f"  {change}")
        done = f"{username} holds what AccessAdmin needs"
        self.stdout.write(self.style.SUCCESS(f"{done}." if changes else f"{done} already."))
        if pass_sync:
            self.stdout.write(f"\nTo make {username} a password-sync manager:")
            for line in system("freeipa").pass_sync_instructions(username=username):
                self.stdout.write(f"  {line}" if line else "")

    @staticmethod
    def admin_password(admin: str, password_file: Path | None) -> str:
        if password_file is not None:
            return password_file.read_text().strip()
        if sys.stdin.isatty():
            return getpass.getpass(f"FreeIPA password of {admin}: ")
        return sys.stdin.readline().strip()
