"""Fencing a run's worker: every claim of a run (and every take-over) gives it a new token, and
a worker writes about the run, or calls a system for it, only while the run still carries the
token it took. A worker that was frozen (a paused VM, a long GC, SIGSTOP) and presumed dead
finds on waking that the run is no longer its own, and stops without a word or a call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from onboarding.errors import RunLost
from onboarding.models import LifecycleRun


def claim_token() -> str:
    return uuid.uuid4().hex


class Fence:
    def __init__(self, run: LifecycleRun) -> None:
        self.run_id = run.pk
        self.claim = run.claim

    def _lost(self) -> RunLost:
        return RunLost(f"run {self.run_id} is no longer this worker's (taken over)")

    def check(self) -> None:
        """Before a call to a system: raise RunLost when another worker holds the run now."""
        if not LifecycleRun.objects.filter(pk=self.run_id, claim=self.claim).exists():
            raise self._lost()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """A transaction holding the run's row while it is still ours: what is written inside
        lands only if no one took the run over, and a take-over waits for it to commit."""
        with transaction.atomic():
            held = (
                LifecycleRun.objects.select_for_update()
                .filter(pk=self.run_id, claim=self.claim)
                .exists()
            )
            if not held:
                raise self._lost()
            yield
