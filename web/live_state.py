"""Each system's live view of a person, asked of every system at once with one deadline: a
system that hangs or fails is shown as not answering, and the page still answers in time."""

from __future__ import annotations

import threading
import time

from django.db import connections

from onboarding.errors import AccessAdminError
from onboarding.models import Person
from onboarding.systems import System, SystemState, enabled


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
