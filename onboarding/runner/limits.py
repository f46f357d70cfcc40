"""Time limits that hold on the threads pool, where Celery enforces none (it can only end
processes, and a thread cannot be ended from outside).

- Soft: a run that has used CELERY_TASK_SOFT_TIME_LIMIT stops between stages and goes back to the
  queue (`RunClock`); the next attempt checks the step that was running before doing it again.
- Hard: a task still running at CELERY_TASK_TIME_LIMIT ends the whole worker process, as the
  prefork pool ends a child (`Watchdog`). The run it was doing fails first, as Celery fails a
  task past its hard limit, so its message, delivered again (acks_late), finds nothing to do
  and cannot end the next worker too; a person resumes it when the cause is fixed. The other
  runs the worker held are handed on (runs_release on start, or the overdue sweep).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)

# EX_SOFTWARE: the supervisor sees a failure and restarts the worker.
HARD_LIMIT_EXIT_CODE = 70


class RunClock:
    """How long a run may go on in this attempt before it yields its worker."""

    def __init__(self, seconds: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.seconds = settings.CELERY_TASK_SOFT_TIME_LIMIT if seconds is None else seconds
        self._clock = clock
        self._deadline = clock() + self.seconds

    @property
    def expired(self) -> bool:
        return self._clock() >= self._deadline


class Watchdog:
    """Watches the tasks of one worker process and ends the process when one outlives the hard
    limit."""

    def __init__(
        self,
        limit: float,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        end_process: Callable[[int], object] = os._exit,
        on_overrun: Callable[[str, tuple], object] = lambda name, args: None,
    ) -> None:
        self.limit = limit
        self.interval = interval
        self._clock = clock
        self._end_process = end_process
        self._on_overrun = on_overrun
        self._tasks: dict[str, tuple[str, tuple, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def task_started(self, task_id: str, name: str, args: tuple = ()) -> None:
        with self._lock:
            self._tasks[task_id] = (name, tuple(args), self._clock())

    def task_finished(self, task_id: str) -> None:
        with self._lock:
            self._tasks.pop(task_id, None)

    def overrun(self) -> list[tuple[str, str, tuple, float]]:
        """(task id, task name, its arguments, seconds running) of every task past the limit."""
        now = self._clock()
        with self._lock:
            return [
                (task_id, name, args, now - started)
                for task_id, (name, args, started) in self._tasks.items()
                if now - started >= self.limit
            ]

    def check(self) -> bool:
        """End the process if a task outlived the limit; True when it did."""
        overrun = self.overrun()
        if not overrun:
            return False
        for task_id, name, args, seconds in overrun:
            logger.critical(
                "task %s (%s) has run for %.0f s, past its %.0f s time limit: the worker ends "
                "so that its runs are handed to another worker",
                task_id, name, seconds, self.limit,
            )  # fmt: skip
            try:
                self._on_overrun(name, args)
            except Exception:
                logger.exception("task %s: what it was doing could not be marked failed", task_id)
        for handler in logging.getLogger().handlers:
            handler.flush()
        self._end_process(HARD_LIMIT_EXIT_CODE)
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if self.check():
                return


_watchdog: Watchdog | None = None


# Pools that run tasks inside the worker process, so Celery cannot end one that overruns.
_IN_PROCESS_POOLS = {"celery.concurrency.thread", "celery.concurrency.solo"}


def watchdog_install(pool_cls: type) -> Watchdog | None:
    """Start the watchdog in a worker whose pool does not enforce time limits itself."""
    global _watchdog
    if pool_cls.__module__ not in _IN_PROCESS_POOLS or _watchdog is not None:
        return None
    from celery.signals import task_postrun, task_prerun

    from onboarding.runner.execute import run_overran

    watchdog = Watchdog(settings.CELERY_TASK_TIME_LIMIT, on_overrun=run_overran)
    task_prerun.connect(
        lambda task_id, task, args=(), **_: watchdog.task_started(task_id, task.name, args),
        weak=False,
    )
    task_postrun.connect(lambda task_id, **_: watchdog.task_finished(task_id), weak=False)
    watchdog.start()
    _watchdog = watchdog
    logger.info("time limits enforced by the watchdog: hard %s s", watchdog.limit)
    return watchdog
