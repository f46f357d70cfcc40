"""Which systems are enabled (setting `ACCESSADMIN_SYSTEMS`), each built once per process."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from onboarding.systems.base import System

# The systems that ship with AccessAdmin; ACCESSADMIN_SYSTEMS may also name a class by its path.
KNOWN = {
    "freeipa": "onboarding.systems.freeipa.FreeIPASystem",
    "efs": "onboarding.systems.efs.EFSSystem",
    "iam": "onboarding.systems.iam.IAMSystem",
    "jupyterhub": "onboarding.systems.jupyterhub.JupyterHubSystem",
    "postgres": "onboarding.systems.postgres.PostgresSystem",
}

_enabled: dict[str, System] | None = None
_lock = threading.Lock()


def _build() -> dict[str, System]:
    built: dict[str, System] = {}
    for entry in settings.ACCESSADMIN_SYSTEMS:
        path = KNOWN.get(entry, entry)
        if "." not in path:
            known = ", ".join(KNOWN)
            raise ImproperlyConfigured(
                f"ACCESSADMIN_SYSTEMS names {entry!r}, which is not a system (known: {known}, "
                "or the dotted path of a System class)."
            )
        try:
            cls = import_string(path)
        except ImportError as error:
            raise ImproperlyConfigured(
                f"ACCESSADMIN_SYSTEMS: cannot load {path}: {error}"
            ) from None
        if not (isinstance(cls, type) and issubclass(cls, System)):
            raise ImproperlyConfigured(f"ACCESSADMIN_SYSTEMS: {path} is not a System class.")
        if cls.name in built:
            raise ImproperlyConfigured(f"ACCESSADMIN_SYSTEMS names {cls.name!r} twice.")
        built[cls.name] = cls()
    return built


def enabled() -> list[System]:
    """The enabled systems, in the order ACCESSADMIN_SYSTEMS names them."""
    global _enabled
    with _lock:
        if _enabled is None:
            _enabled = _build()
        return list(_enabled.values())


def system(name: str) -> System:
    for candidate in enabled():
        if candidate.name == name:
            return candidate
    raise ImproperlyConfigured(f"The system {name!r} is not enabled (ACCESSADMIN_SYSTEMS).")


def systems_reset() -> None:
    """Forget the built systems and their clients, e.g. after settings changed."""
    global _enabled
    with _lock:
        _enabled = None


def round_trips() -> dict[str, int]:
    """Requests this thread has sent, per system whose client is built."""
    return {each.name: each.round_trips for each in enabled()}


def fact(name: str, person) -> Any:
    """A fact about the person from whichever enabled system provides it; None if none does."""
    for each in enabled():
        if name in each.provides:
            return each.fact(name, person)
    return None


def system_logins() -> list[tuple[str, str]]:
    """Where a newcomer logs in, (what, address), for each enabled system that says so."""
    return [link for each in enabled() if (link := each.login_link())]


class Clients:
    """Each enabled system's client by name (`clients().freeipa`), for scripts and tests."""

    def __getattr__(self, name: str) -> Any:
        return system(name).client


def clients() -> Clients:
    return Clients()
