"""Beat keeps house: expired sessions and django-axes' old records go, fresh ones stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from onboarding.housekeeping import LOGIN_RECORDS_DAYS
from onboarding.tasks import login_records_purge_old_task, sessions_purge_expired_task

pytestmark = pytest.mark.django_db


def session_made(expire_date) -> str:
    session = SessionStore()
    session["who"] = "ada"
    session.create()
    Session.objects.filter(session_key=session.session_key).update(expire_date=expire_date)
    return session.session_key


def aged(model, username: str, age: timedelta, **fields):
    record = model.objects.create(
        username=username, ip_address="192.0.2.1", user_agent="test", **fields
    )
    # attempt_time is auto_now_add: back-date it afterwards.
    model.objects.filter(pk=record.pk).update(attempt_time=timezone.now() - age)
    return record


def test_expired_sessions_are_purged_and_live_ones_kept():
    expired = session_made(timezone.now() - timedelta(minutes=1))
    live = session_made(timezone.now() + timedelta(hours=1))

    sessions_purge_expired_task()

    assert list(Session.objects.values_list("session_key", flat=True)) == [live]
    assert not Session.objects.filter(session_key=expired).exists()


def test_login_attempts_past_the_cool_off_and_old_logs_are_purged_fresh_ones_kept():
    cool_off = settings.AXES_COOLOFF_TIME
    old_attempt = aged(
        AccessAttempt, "old", cool_off + timedelta(minutes=1), failures_since_start=3
    )
    locking = aged(AccessAttempt, "locked", cool_off - timedelta(minutes=1), failures_since_start=5)
    old_log = aged(AccessLog, "ada", timedelta(days=LOGIN_RECORDS_DAYS + 1))
    recent_log = aged(AccessLog, "ada", timedelta(days=LOGIN_RECORDS_DAYS - 1))
    old_failure = aged(AccessFailureLog, "bea", timedelta(days=LOGIN_RECORDS_DAYS + 1))
    recent_failure = aged(AccessFailureLog, "bea", timedelta(days=1))

    assert login_records_purge_old_task() == 3

    assert list(AccessAttempt.objects.values_list("pk", flat=True)) == [locking.pk]
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [recent_log.pk]
    assert list(AccessFailureLog.objects.values_list("pk", flat=True)) == [recent_failure.pk]
    for gone in (old_attempt, old_log, old_failure):
        assert not type(gone).objects.filter(pk=gone.pk).exists()


def test_nothing_to_purge_is_fine():
    assert login_records_purge_old_task() == 0
    sessions_purge_expired_task()


def test_beat_runs_each_purge_on_a_schedule():
    from accessadmin.celery import app

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"sessions.purge_expired", "login_records.purge_old"} <= scheduled
    assert {"credentials.purge_expired"} <= scheduled
    app.loader.import_default_modules()
    assert scheduled <= set(app.tasks)
