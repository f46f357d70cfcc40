"""`move`: the old name of `person_move`, kept so that scripts written for it still work."""

from onboarding.management.commands.person_move import Command as Renamed


class Command(Renamed):
    help = f"Old name of person_move. {Renamed.help}"
