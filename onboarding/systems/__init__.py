"""The downstream systems a person is kept in, one package each, and the registry of the enabled
ones.

A system's package holds everything about it: `client.py` (the only code that talks to it and
imports its client library, raising `onboarding.errors` transient/permanent errors), `steps.py`
(its plan steps, each with do/check/undo) and, in `__init__.py`, its `System`: which plan stages
its steps join, a person's live state, its inventory and the check of its settings. See
docs/adding-a-system.md.
"""

from onboarding.systems.base import (
    Check,
    DirectoryAccount,
    ManagedObject,
    System,
    SystemState,
    TeamSetting,
    names_parse,
    text_list,
)
from onboarding.systems.registry import (
    clients,
    enabled,
    fact,
    round_trips,
    system,
    systems_reset,
)

__all__ = [
    "Check",
    "DirectoryAccount",
    "ManagedObject",
    "System",
    "SystemState",
    "TeamSetting",
    "clients",
    "enabled",
    "fact",
    "names_parse",
    "round_trips",
    "system",
    "systems_reset",
    "text_list",
]
