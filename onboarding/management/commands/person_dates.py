"""`person_dates`: the old name of `person_dates_set`, kept so that scripts written
for it still work."""

from onboarding.management.commands.person_dates_set import Command as Renamed


class Command(Renamed):
    help = f"Old name of person_dates_set. {Renamed.help}"
