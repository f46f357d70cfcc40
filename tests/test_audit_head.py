"""Every append records the chain's head outside the database; verify_audit checks the chain
against it, says when there is none, and reports events whose head could not be written."""

import logging
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from onboarding.audit import audit_chain_id, audit_record
from onboarding.models import AuditEvent
from tests.test_audit_tampering import as_owner


@pytest.fixture
def head_dir(tmp_path) -> Path:
    directory = tmp_path / "head"
    directory.mkdir()
    return directory


@pytest.fixture
def head_file(settings, head_dir) -> Path:
    settings.AUDIT_HEAD_FILE = str(head_dir / "audit-head.log")
    return head_dir / "audit-head.log"


def record(n: int = 1) -> list[AuditEvent]:
    return [
        audit_record(
            actor="admin", action="person.offboard", target=f"user{i}", outcome="requested"
        )
        for i in range(n)
    ]


def verify_output(capsys) -> str:
    call_command("audit_verify")
    return capsys.readouterr().out


@contextmanager
def read_only(directory: Path):
    """The directory and its files as on a read-only disk; root ignores modes, so they are also
    made immutable."""
    paths = [directory, *directory.iterdir()]
    immutable = os.geteuid() == 0
    for path in paths:
        path.chmod(0o555)
        if immutable:
            subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True)
    try:
        try:
            with (directory / "probe").open("a"):
                pass
        except OSError:
            pass
        else:
            pytest.skip("this machine cannot make a directory read-only")
        yield
    finally:
        for path in paths:
            if immutable:
                subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
            path.chmod(0o755)


@pytest.mark.django_db(transaction=True)
def test_each_append_records_its_head_outside_the_database(head_file, capsys):
    events = record(3)

    recorded = head_file.read_text()
    assert all(event.hash in recorded for event in events)
    output = verify_output(capsys)
    assert "Audit trail intact: 3 events verified." in output
    assert "3 heads recorded outside the database match the chain" in output


@pytest.mark.django_db(transaction=True)
def test_an_event_rolled_back_with_its_transaction_leaves_no_head(head_file, capsys):
    with pytest.raises(RuntimeError), transaction.atomic():
        record()
        raise RuntimeError("the request failed after auditing")
    assert not head_file.exists()

    record()

    assert "1 heads recorded outside the database match the chain" in verify_output(capsys)


@pytest.mark.django_db
def test_verify_says_when_no_head_has_been_recorded_yet(head_file, capsys):
    record(2)  # inside the test's transaction, never committed: no head is written

    output = verify_output(capsys)

    assert "Audit trail intact: 2 events verified." in output
    assert "No head has been recorded outside the database yet" in output


@pytest.mark.django_db
def test_verify_says_when_no_head_is_kept(settings, capsys):
    settings.AUDIT_HEAD_FILE = ""
    record(1)

    assert "AUDIT_HEAD_FILE is not set" in verify_output(capsys)


@pytest.mark.django_db(transaction=True)
def test_a_read_only_head_keeps_the_event_logs_loudly_and_verify_reports_the_gap(
    head_file, head_dir, caplog, capsys
):
    (first,) = record()

    with read_only(head_dir), caplog.at_level(logging.ERROR, logger="onboarding.audit"):
        (second,) = record()

    assert AuditEvent.objects.filter(pk=second.pk).exists(), "the offboarding's event was lost"
    assert any(f"#{second.pk}" in message and "head" in message for message in caplog.messages), (
        caplog.messages
    )
    output = verify_output(capsys)
    assert "Audit trail intact: 2 events verified." in output
    assert f"1 event after #{first.pk} has no head recorded outside the database" in output

    record()

    output = verify_output(capsys)
    assert "has no head recorded" not in output
    assert "2 heads recorded outside the database match the chain" in output


@pytest.mark.django_db(transaction=True)
def test_a_head_directory_that_cannot_be_written_keeps_the_event_and_says_so(
    head_file, head_dir, caplog, capsys
):
    with read_only(head_dir), caplog.at_level(logging.ERROR, logger="onboarding.audit"):
        (event,) = record()

    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert any(f"#{event.pk}" in message for message in caplog.messages), caplog.messages
    output = verify_output(capsys)
    assert "Audit trail intact: 1 events verified." in output
    assert "No head has been recorded outside the database yet" in output


# One chain, one head --------------------------------------------------------------------------


def another_chain_heads(head_file: Path, count: int = 3) -> None:
    """Head lines another database wrote into the same file (a reset local database, say)."""
    lines = [f"{'a' * 16} {900000 + n} {n} {'b' * 64}\n" for n in range(1, count + 1)]
    head_file.write_text("".join(lines))


@pytest.mark.django_db(transaction=True)
def test_each_head_line_names_its_chain(head_file):
    first, second = record(2)
    chain = audit_chain_id()
    assert head_file.read_text().splitlines() == [
        f"{chain} {first.pk} {first.position} {first.hash}",
        f"{chain} {second.pk} {second.position} {second.hash}",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_head_file_that_served_another_database_is_not_read_as_deleted_events(head_file, capsys):
    another_chain_heads(head_file)

    output = verify_output(capsys)  # a fresh database, no event yet
    assert "Audit trail intact: 0 events verified." in output
    assert "3 heads of another chain" in output

    record(2)

    output = verify_output(capsys)
    assert "Audit trail intact: 2 events verified." in output
    assert "2 heads recorded outside the database match the chain" in output
    assert "3 heads of another chain" in output


@pytest.mark.django_db(transaction=True)
def test_the_local_default_keeps_one_head_file_per_database(settings):
    from accessadmin.settings import _database_slug

    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/var/db.sqlite3"}
    other = {"ENGINE": "django.db.backends.postgresql", "NAME": "aa", "HOST": "db", "PORT": 5432}
    assert _database_slug(sqlite) == "db"
    assert _database_slug(other) == "db-5432-aa"
    assert _database_slug({**other, "NAME": "aa_restore"}) != _database_slug(other)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", ["no head", "head file missing", "head file cut short"])
def test_in_production_verify_fails_for_events_without_a_head(head_file, settings, case):
    events = record(3)
    if case == "no head":
        another_chain_heads(head_file)  # only another database's heads are left
    elif case == "head file missing":
        head_file.unlink()
    else:
        lines = head_file.read_text().splitlines(keepends=True)
        head_file.write_text("".join(lines[:1]))
    settings.PRODUCTION = True

    with pytest.raises(CommandError) as failed:
        call_command("audit_verify")

    expected = "is missing" if case == "head file missing" else "events have no head recorded"
    assert expected in str(failed.value)
    settings.PRODUCTION = False
    call_command("audit_verify")  # elsewhere a warning, not a failure
    assert AuditEvent.objects.count() == len(events)


@pytest.mark.django_db(transaction=True)
def test_in_production_an_emptied_table_fails_the_check(head_file, settings):
    record(2)
    settings.PRODUCTION = True
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE onboarding_auditevent CASCADE")  # allowed in test databases

    with pytest.raises(CommandError, match="the table was emptied"):
        call_command("audit_verify")


@pytest.mark.django_db(transaction=True)
def test_after_a_restore_the_old_heads_are_kept_aside_and_the_chain_verifies_again(
    head_file, settings, capsys
):
    kept_events = record(2)
    lost = record(2)
    # A restore from a backup taken after the first two events: the other two are gone.
    as_owner(("DELETE FROM onboarding_auditevent WHERE id = ANY(%s)", [[e.pk for e in lost]]))
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="newest events were deleted"):
        call_command("audit_verify")

    call_command("audit_verify", "--restored", "restored the 02:00 backup after a disk loss")

    output = capsys.readouterr().out
    assert "The old head file is kept as" in output
    assert "Audit trail intact: 3 events verified." in output
    restore = AuditEvent.objects.get(action="audit.restore")
    assert restore.details["reason"] == "restored the 02:00 backup after a disk loss"
    assert restore.details["old_newest_head"] == lost[-1].pk
    assert restore.details["newest_event_before"] == kept_events[-1].pk
    assert list(head_file.parent.glob("audit-head.log.before-restore-*"))
