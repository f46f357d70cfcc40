from onboarding.errors import InvalidInput
from onboarding.management.commands._base import LifecycleCommand
from onboarding.selectors import person_get
from onboarding.services import person_update


class Command(LifecycleCommand):
    help = "Change an active person's name or e-mail, in FreeIPA and here."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--first-name")
        parser.add_argument("--last-name")
        parser.add_argument("--email")

    def handle(self, *args, **options):
        person = person_get(options["username"])
        given = {name: options[name] for name in ("first_name", "last_name", "email")}
        if all(value is None for value in given.values()):
            raise InvalidInput("Give at least one of --first-name, --last-name and --email.")
        fields = {
            name: getattr(person, name) if value is None else value for name, value in given.items()
        }
        person_update(person=person, **fields, actor=self.actor())
        self.stdout.write(f"{person.username} is now {person.full_name} <{person.email}>.")
