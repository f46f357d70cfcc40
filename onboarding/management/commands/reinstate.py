"""`reinstate`: the old name of `person_reinstate`, kept so that scripts written
for it still work."""

from onboarding.management.commands.person_reinstate import Command as Renamed


class Command(Renamed):
    help = f"Old name of person_reinstate. {Renamed.help}"
