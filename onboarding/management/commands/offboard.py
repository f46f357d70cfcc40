"""`offboard`: the old name of `person_offboard`, kept so that scripts written for it still work."""

from onboarding.management.commands.person_offboard import Command as Renamed


class Command(Renamed):
    help = f"Old name of person_offboard. {Renamed.help}"
