"""`verify_audit`: the old name of `audit_verify`, kept so that scripts written
for it still work."""

from onboarding.management.commands.audit_verify import Command as Renamed


class Command(Renamed):
    help = f"Old name of audit_verify. {Renamed.help}"
