from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from onboarding.audit import AuditCheck, audit_verify


class Command(BaseCommand):
    help = (
        "Check the audit trail's keyed hash chain against the heads recorded outside the "
        "database; report the first broken link."
    )

    def handle(self, *args, **options):
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

    def head_report(self, result: AuditCheck) -> None:
        if not settings.AUDIT_HEAD_FILE:
            self.warn(
                "No head is kept outside the database (AUDIT_HEAD_FILE is not set): deleting "
                "the newest events would go unnoticed."
            )
            return
        if not result.heads:
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
