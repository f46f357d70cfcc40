"""Fencing a run's worker: every claim of a run (and every take-over) gives it a new token, and
a worker writes about the run, or calls a system for it, only while the run still carries the
token it took. A worker that was frozen (a paused VM, a long GC, SIGSTOP) and presumed dead
finds on waking that the run is no longer its own, and stops without a word or a call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from onboarding.errors import RunLost
from onboarding.models import LifecycleRun


def claim_token() -> str:
    return uuid.uuid4().hex


def _held_sql(*, locking: bool) -> str:
    quote = connection.ops.quote_name
    table = quote(LifecycleRun._meta.db_table)
    where = f"{quote('id')} = %s AND {quote('claim')} = %s"
    sql = f"SELECT 1 FROM {table} WHERE {where}"  # noqa: S608 - names from the model, values bound
    return sql + " FOR UPDATE" if locking and connection.features.has_select_for_update else sql


class Fence:
    """Checked before every call to a system and around every write of a step, so it is one
    plain statement: building the same ORM query each time cost more CPU than running it."""

    def __init__(self, run: LifecycleRun) -> None:
        self.run_id = run.pk
        self.claim = run.claim

    def _lost(self) -> RunLost:
        return RunLost(f"run {self.run_id} is no longer this worker's (taken over)")

    def _held(self, *, locking: bool) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(_held_sql(locking=locking), [self.run_id, self.claim])
            return cursor.fetchone() is not None

    def check(self) -> None:
        """Before a call to a system: raise RunLost when another worker holds the run now."""
        if not self._held(locking=False):
            raise self._lost()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """A transaction holding the run's row while it is still ours: what is written inside
        lands only if no one took the run over, and a take-over waits for it to commit."""
        with transaction.atomic():
            if not self._held(locking=True):
                raise self._lost()
            yield
