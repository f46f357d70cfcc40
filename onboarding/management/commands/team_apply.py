"""`team_apply`: the old name of `team_members_apply`, kept so that scripts written
for it still work."""

from onboarding.management.commands.team_members_apply import Command as Renamed


class Command(Renamed):
    help = f"Old name of team_members_apply. {Renamed.help}"
