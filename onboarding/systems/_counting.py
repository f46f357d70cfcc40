"""Counting requests per thread: concurrent runs share connectors but not their figures."""

import threading


class RoundTrips:
    def __init__(self) -> None:
        self._local = threading.local()

    def add(self) -> None:
        self._local.count = self.count + 1

    @property
    def count(self) -> int:
        return getattr(self._local, "count", 0)
