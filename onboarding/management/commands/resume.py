"""`resume`: the old name of `run_resume`, kept so that scripts written for it still work."""

from onboarding.management.commands.run_resume import Command as Renamed


class Command(Renamed):
    help = f"Old name of run_resume. {Renamed.help}"
