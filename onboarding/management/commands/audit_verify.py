import getpass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from onboarding.audit import AuditCheck, audit_restore_accept, audit_verify
from onboarding.errors import InvalidInput
from onboarding.validation import text_check


class Command(BaseCommand):
    help = (
        "Check the audit trail's keyed hash chain against the heads recorded outside the "
        "database; report the first broken link. In production, events without a recorded "
        "head (the head file missing, cut short, or another database's) fail the check too."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--restored", metavar="REASON",
            help="after restoring the database from a backup: keep the head file aside, record "
            "an audit event saying why, and start this chain's heads anew (README, 'The audit "
            "trail')",
        )  # fmt: skip

    def handle(self, *args, **options):
        if options["restored"] is not None:
            self.restore_accept(options["restored"])
        try:
            result = audit_verify()
        except OSError as error:
            raise CommandError(
                f"The audit head file {settings.AUDIT_HEAD_FILE} cannot be read: {error.strerror}."
            ) from None
        if result.broken is not None:
            raise CommandError(
                f"Audit trail broken at event #{result.broken.event_id}: {result.broken.reason} "
                f"({result.checked} events before it are intact)."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Audit trail intact: {result.checked} events verified.")
        )
        self.head_report(result)
        if settings.PRODUCTION:
            problem = self.production_problem(result)
            if problem:
                raise CommandError(problem)

    def restore_accept(self, reason: str) -> None:
        if not settings.AUDIT_HEAD_FILE:
            raise CommandError("AUDIT_HEAD_FILE is not set: there is no head file to start anew.")
        try:
            reason = text_check(reason, label="The reason", one_line=True)
        except InvalidInput as error:
            raise CommandError(str(error), returncode=2) from None
        kept, event = audit_restore_accept(reason=reason, actor=f"cli:{getpass.getuser()}")
        self.stdout.write(
            f"The old head file is kept as {kept}; audit event #{event.pk} records the restore "
            "and starts this chain's heads anew."
        )

    def production_problem(self, result: AuditCheck) -> str:
        if not result.checked:
            return ""
        if not result.head_file_found:
            return (
                f"The audit head file {settings.AUDIT_HEAD_FILE} is missing: the newest events "
                "cannot be checked against a head recorded outside the database."
            )
        if result.unanchored:
            return (
                f"{result.unanchored} events have no head recorded outside the database: the "
                "head file was cut short, serves another database, or writing it failed (see "
                "the log for AUDIT HEAD NOT WRITTEN)."
            )
        return ""

    def head_report(self, result: AuditCheck) -> None:
        if not settings.AUDIT_HEAD_FILE:
            self.warn(
                "No head is kept outside the database (AUDIT_HEAD_FILE is not set): deleting "
                "the newest events would go unnoticed."
            )
            return
        if result.other_chains:
            self.warn(
                f"The head file also holds {result.other_chains} heads of another chain "
                "(another database's, or this one's before a restore); they are not checked."
            )
        if not result.heads:
            if result.other_chains:
                self.warn(
                    f"This database's chain ({result.chain or 'no event yet'}) has no recorded "
                    "head: the newest events are not checked against one."
                )
                return
            self.warn(
                "No head has been recorded outside the database yet "
                f"({settings.AUDIT_HEAD_FILE} holds none): the newest events are not checked "
                "against one."
            )
            return
        self.stdout.write(
            f"{result.heads} heads recorded outside the database match the chain "
            f"(the newest: event #{result.newest_head})."
        )
        if result.unanchored:
            events = "1 event" if result.unanchored == 1 else f"{result.unanchored} events"
            has = "has" if result.unanchored == 1 else "have"
            self.warn(
                f"{events} after #{result.newest_head} {has} no head recorded outside the "
                "database: writing it failed (see the log for AUDIT HEAD NOT WRITTEN), or a "
                "process stopped between its commit and writing it."
            )

    def warn(self, message: str) -> None:
        self.stdout.write(self.style.WARNING(message))
