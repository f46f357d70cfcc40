"""`onboard_csv`: the old name of `people_onboard_csv`, kept so that scripts written
for it still work."""

from onboarding.management.commands.people_onboard_csv import Command as Renamed


class Command(Renamed):
    help = f"Old name of people_onboard_csv. {Renamed.help}"
