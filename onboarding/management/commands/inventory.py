from dataclasses import asdict

from onboarding.errors import InvalidInput
from onboarding.management.commands._base import LifecycleCommand, as_json
from onboarding.systems import enabled


class Command(LifecycleCommand):
    help = "List what AccessAdmin manages in each enabled system, and whose it is."

    def add_arguments(self, parser):
        parser.add_argument("--system", help="one system only")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        systems = enabled()
        if options["system"]:
            systems = [each for each in systems if each.name == options["system"]]
            if not systems:
                names = ", ".join(each.name for each in enabled())
                raise InvalidInput(f"{options['system']!r} is not an enabled system ({names}).")
        found = [item for each in systems for item in each.inventory()]
        if options["json"]:
            self.stdout.write(as_json([asdict(item) for item in found]))
            return
        for item in found:
            self.stdout.write(
                f"{item.system:<11} {item.kind:<13} {item.id:<28} {item.username:<20} {item.detail}"
            )
        self.stdout.write(f"{len(found)} objects in {len(systems)} systems.")
