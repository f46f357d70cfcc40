"""Preflight: whether a run could succeed now, asked of the broker, whatever else listens
(the web UI's directory login) and every enabled system, with the configured credentials."""

from __future__ import annotations

from onboarding.broker import broker_persistence, broker_persistence_problem
from onboarding.errors import AccessAdminError
from onboarding.signals import preflight_requested
from onboarding.systems import Check, enabled


def preflight_run() -> list[tuple[str, Check]]:
    """(label, check) for everything a run needs, the broker first; a system with bad
    settings is asked nothing."""
    fatal, problem = broker_persistence_problem(broker_persistence())
    verdict = Check.FAILED if fatal else Check.WARNING if problem else Check.OK
    found = [("Broker", Check("Redis", verdict, problem or "keeps an append-only file"))]
    found += [answer for _, answer in preflight_requested.send(sender=preflight_run)]
    for system in enabled():
        problems = system.settings_problems()
        if problems:
            found += [(system.label, Check("settings", Check.FAILED, p)) for p in problems]
            continue
        try:
            checks = system.preflight()
        except AccessAdminError as error:
            checks = [Check("service account", Check.FAILED, str(error))]
        found += [(system.label, check) for check in checks]
    return found
