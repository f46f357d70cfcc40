"""Each request a system client sends: counted per thread (concurrent runs share connectors
but not their figures), and first allowed by the thread's fence, if it has one: a worker that
lost its run to another must not call a system for it again."""

import threading
from collections.abc import Callable

_fences = threading.local()


class RoundTrips:
    def __init__(self) -> None:
        self._local = threading.local()

    def add(self) -> None:
        self._local.count = self.count + 1

    @property
    def count(self) -> int:
        return getattr(self._local, "count", 0)


def requests_fenced(check: Callable[[], None] | None) -> None:
    """From now on, on this thread, `check` runs before every request a client sends (and may
    raise to stop it); None ends that."""
    _fences.check = check


def request_allowed() -> None:
    """Called by every client just before it sends a request."""
    check = getattr(_fences, "check", None)
    if check is not None:
        check()
