"""`rollback`: the old name of `run_rollback`, kept so that scripts written for it still work."""

from onboarding.management.commands.run_rollback import Command as Renamed


class Command(Renamed):
    help = f"Old name of run_rollback. {Renamed.help}"
