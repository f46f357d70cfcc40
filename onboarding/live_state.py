"""Each system's live view of a person, asked of every system at once with one deadline: a
system that hangs or fails is shown as not answering, and the page still answers in time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connections

from onboarding.errors import AccessAdminError
from onboarding.models import Person
from onboarding.systems import System, SystemState, enabled

Answer = TypeVar("Answer")


def _state_ask(system: System, person: Person, answers: dict[str, SystemState]) -> None:
    try:
        answers[system.name] = system.person_state(person)
    except AccessAdminError as error:
        answers[system.name] = SystemState(system.label, None, "not answering", str(error))
    except Exception as error:  # one system failing must not hide the others
        answers[system.name] = SystemState(
            system.label, None, "not answering", f"it failed ({type(error).__name__})"
        )
    finally:
        connections.close_all()  # this thread's own connections, if a system used the database


def person_systems_state_within(person: Person, *, timeout: float) -> list[SystemState]:
    """What each enabled system holds for the person, in the registry's order, within `timeout`
    seconds in all. A system still asking then is left to its client's own timeout in a daemon
    thread, and shown as not answering."""
    systems = enabled()
    answers: dict[str, SystemState] = {}
    threads = [
        threading.Thread(
            target=_state_ask, args=(system, person, answers), daemon=True,
            name=f"live-state-{system.name}",
        )
        for system in systems
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [
        answers.get(system.name)
        or SystemState(system.label, None, "not answering", f"no answer within {timeout:g} s")
        for system in systems
    ]


def answer_within(ask: Callable[[], Answer], *, timeout: float) -> Answer | None:
    """ask() on a thread of its own; None when it has not answered within `timeout` seconds
    (it goes on in the background, bounded by the clients' own timeouts)."""
    answers: list[Answer] = []

    def run() -> None:
        try:
            answers.append(ask())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True, name="answer-within")
    thread.start()
    thread.join(timeout)
    return answers[0] if answers else None
