from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import person_get
from onboarding.services import person_credentials_reset, person_credentials_reset_preview


class Command(LifecycleCommand):
    help = (
        "Reset an active person's credentials: delete their OTP tokens, make a new one and issue "
        "a new expired temporary password, revealed once with reveal_credentials."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        person = person_get(options["username"])
        if options["dry_run"]:
            self.stdout.write(f"Resetting {person.username}'s credentials would:")
            self.preview_print(person_credentials_reset_preview(person=person))
            return
        self.queued_report(person_credentials_reset(person=person, actor=self.actor()), options)
