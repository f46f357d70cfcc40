"""`requeue`: the old name of `run_requeue`, kept so that scripts written for it still work."""

from onboarding.management.commands.run_requeue import Command as Renamed


class Command(Renamed):
    help = f"Old name of run_requeue. {Renamed.help}"
