"""`reset_credentials`: the old name of `person_credentials_reset`, kept so that scripts written
for it still work."""

from onboarding.management.commands.person_credentials_reset import Command as Renamed


class Command(Renamed):
    help = f"Old name of person_credentials_reset. {Renamed.help}"
