"""Log lines that say which run and step they come from: the runner sets a context while it works
on a run and on a step, and `JsonFormatter` writes it into every line (LOG_FORMAT=json).

Imported by the logging configuration, before Django's apps are ready: nothing here touches
models or settings.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType

# The fields a line may carry about the work in hand, in the order they are written.
CONTEXT_FIELDS = ("run", "step", "worker")

_context: ContextVar[MappingProxyType] = ContextVar("log_context", default=MappingProxyType({}))


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add fields (run, step, worker) to every line logged in this context until the block ends.

    A context does not follow work onto another thread: set it inside the job that runs there.
    """
    token = _context.set(MappingProxyType({**_context.get(), **fields}))
    try:
        yield
    finally:
        _context.reset(token)


def log_context_fields() -> dict[str, object]:
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the run/step/worker in hand, and
    the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = _context.get()
        for name in CONTEXT_FIELDS:
            # `extra={"run": ...}` on a call wins over the context.
            value = getattr(record, name, fields.get(name))
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)
