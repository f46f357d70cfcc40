from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import person_get
from onboarding.services import person_reinstate, person_reinstate_preview


class Command(LifecycleCommand):
    help = "Restore an offboarded person's preserved FreeIPA user and give their access back."

    def add_arguments(self, parser):
        parser.add_argument("username")
        self.add_wait_arguments(parser)

    def handle(self, *args, **options):
        person = person_get(options["username"])
        if options["dry_run"]:
            self.stdout.write(f"Reinstating {person.username} would:")
            self.preview_print(person_reinstate_preview(person=person))
            return
        self.queued_report(person_reinstate(person=person, actor=self.actor()), options)
