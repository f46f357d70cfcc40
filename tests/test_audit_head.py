"""Every append records the chain's head outside the database; verify_audit checks the chain
against it, says when there is none, and reports events whose head could not be written."""

import logging
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from onboarding.audit import audit_record
from onboarding.models import AuditEvent


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
    call_command("verify_audit")
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
