"""`reveal_credentials`: the old name of `run_credentials_reveal`, kept so that scripts written
for it still work."""

from onboarding.management.commands.run_credentials_reveal import Command as Renamed


class Command(Renamed):
    help = f"Old name of run_credentials_reveal. {Renamed.help}"
