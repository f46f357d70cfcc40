"""The step threads: the steps of one stage run together, each on its own thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from django.db import close_old_connections, connections

Outcome = TypeVar("Outcome")

_STEP_THREADS = 4
_step_threads: ThreadPoolExecutor | None = None
_step_threads_lock = threading.Lock()


def _step_pool() -> ThreadPoolExecutor:
    # Long-lived threads keep their downstream sessions and database connections warm.
    global _step_threads
    with _step_threads_lock:
        if _step_threads is None:
            _step_threads = ThreadPoolExecutor(_STEP_THREADS, thread_name_prefix="lifecycle-step")
        return _step_threads


def together(jobs: list[Callable[[], Outcome]]) -> list[Outcome]:
    """Run the jobs (the first on this thread, the rest on step threads); wait for them all."""
    futures = [_step_pool().submit(_on_step_thread, job) for job in jobs[1:]]
    try:
        first = jobs[0]()
    finally:
        # Even when this thread's job raised (its run lost, say), no step is left running.
        wait(futures)
    return [first, *(future.result() for future in futures)]


def _on_step_thread(job: Callable[[], Outcome]) -> Outcome:
    close_old_connections()
    try:
        return job()
    finally:
        close_old_connections()


def step_threads_stop() -> None:
    """End the step threads, closing their database connections (at worker shutdown)."""
    global _step_threads
    with _step_threads_lock:
        pool, _step_threads = _step_threads, None
    if pool is None:
        return
    # Each thread must close its own connections: hold them all at a barrier so every thread
    # takes exactly one of the closing jobs.
    barrier = threading.Barrier(_STEP_THREADS)

    def close_own_connections() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=10)
        connections.close_all()

    for _ in range(_STEP_THREADS):
        pool.submit(close_own_connections)
    pool.shutdown(wait=True)
