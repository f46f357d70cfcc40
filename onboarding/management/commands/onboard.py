"""`onboard`: the old name of `person_onboard`, kept so that scripts written for it still work."""

from onboarding.management.commands.person_onboard import Command as Renamed


class Command(Renamed):
    help = f"Old name of person_onboard. {Renamed.help}"
