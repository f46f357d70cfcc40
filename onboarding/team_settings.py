"""The per-team settings that systems declare (`System.team_settings`), in one place: how what a
person typed becomes a checked value, where a team's value is read, and what changing it means
for the team's members. Values live in `Team.system_settings` as {system: {setting: value}}; the
team form, `team_set`, the API, previews and steps all come here, so a system's fields are known
only to its own package.

Each setting is named `<system>.<setting>` outside its system (`postgres.roles`): in the team
form's fields, `team_set --setting`, and the problems this module reports.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from onboarding.errors import AccessAdminError, InvalidInput
from onboarding.models import Team
from onboarding.systems import enabled
from onboarding.systems.base import System, TeamSetting

Values = dict[str, dict[str, Any]]


def declared() -> list[tuple[System, TeamSetting]]:
    """Every enabled system's team settings, in the systems' order."""
    return [(system, setting) for system in enabled() for setting in system.team_settings]


def key(system: System | str, setting: TeamSetting | str) -> str:
    system_name = system if isinstance(system, str) else system.name
    setting_name = setting if isinstance(setting, str) else setting.name
    return f"{system_name}.{setting_name}"


def _declared_by_key() -> dict[str, tuple[System, TeamSetting]]:
    return {key(system, setting): (system, setting) for system, setting in declared()}


def team_setting(team: Team, system: str, name: str) -> Any:
    """The team's value of a system's setting, or the setting's default when it has none."""
    stored = (team.system_settings or {}).get(system, {})
    if name in stored:
        return copy.deepcopy(stored[name])
    found = _declared_by_key().get(key(system, name))
    if found is None:
        raise KeyError(f"{system} declares no team setting {name!r} (or is not enabled)")
    return copy.deepcopy(found[1].default)


def team_settings_all(team: Team) -> Values:
    """Every declared setting's value for the team, defaults filled in: for the API and audit."""
    values: Values = {}
    for system, setting in declared():
        values.setdefault(system.name, {})[setting.name] = team_setting(
            team, system.name, setting.name
        )
    return values


def team_settings_text(team: Team | None) -> dict[str, str]:
    """Each declared setting as text, by key: what the team form shows to be edited."""
    found = {}
    for system, setting in declared():
        value = team_setting(team, system.name, setting.name) if team else setting.default
        found[key(system, setting)] = setting.text(value)
    return found


def pairs_parse(pairs: list[str] | None) -> Values:
    """`system.setting=value` words (team_set's --setting) as raw values, or InvalidInput."""
    raw: Values = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        system_name, dot, setting_name = name.strip().partition(".")
        if not sep or not dot or not system_name or not setting_name:
            raise InvalidInput(
                f"--setting {pair!r}: write it as SYSTEM.SETTING=VALUE (e.g. postgres.roles=a,b)."
            )
        raw.setdefault(system_name, {})[setting_name] = value
    return raw


def settings_parse(raw: Mapping[str, Any] | None) -> tuple[Values, dict[str, list[str]]]:
    """Checked values from raw {system: {setting: text or JSON value}}, and the problems of those
    that are wrong by key (`postgres.roles`), unknown systems and settings included."""
    values: Values = {}
    problems: dict[str, list[str]] = {}
    if raw is None:
        return values, problems
    if not isinstance(raw, Mapping):
        return values, {"system_settings": ["Give the settings as {system: {setting: value}}."]}
    known = _declared_by_key()
    for system_name, given in raw.items():
        if not isinstance(given, Mapping):
            problems[str(system_name)] = [
                f"{system_name}: give its settings as {{setting: value}}."
            ]
            continue
        for setting_name, value in given.items():
            name = key(str(system_name), str(setting_name))
            if name not in known:
                offered = ", ".join(known) or "none with the enabled systems"
                problems[name] = [f"There is no team setting {name} (settings: {offered})."]
                continue
            system, setting = known[name]
            try:
                values.setdefault(system.name, {})[setting.name] = setting.parse(value)
            except InvalidInput as error:
                problems[name] = [f"{system.label} {setting.label.lower()}: {error}"]
    return values, problems


def settings_ask(values: Values) -> dict[str, list[str]]:
    """What each system says against the parsed values it declared an `ask` for; a system that
    does not answer is a problem too, since nothing may be saved that cannot be checked."""
    problems: dict[str, list[str]] = {}
    known = _declared_by_key()
    for system_name, given in values.items():
        for setting_name, value in given.items():
            system, setting = known[key(system_name, setting_name)]
            if setting.ask is None:
                continue
            try:
                problem = setting.ask(system, value)
            except AccessAdminError as error:
                problem = f"{system.label} did not answer ({error}); try again in a minute."
            if problem:
                problems[key(system, setting)] = [problem]
    return problems


def settings_problems_text(problems: dict[str, list[str]]) -> list[str]:
    return [message for messages in problems.values() for message in messages]


def settings_merged(team: Team, values: Values) -> Values:
    """The team's stored settings with these values put over them."""
    merged = copy.deepcopy(team.system_settings or {})
    for system_name, given in values.items():
        merged.setdefault(system_name, {}).update(given)
    return merged


def settings_changes(team: Team, values: Values) -> list[tuple[str, str, str]]:
    """(what, now, after) for each setting these values would change, as words."""
    changes = []
    known = _declared_by_key()
    for system_name, given in values.items():
        for setting_name, after in given.items():
            system, setting = known[key(system_name, setting_name)]
            before = team_setting(team, system_name, setting_name)
            if before != after:
                changes.append(
                    (
                        f"{system.label} {setting.label.lower()}",
                        setting.text(before) or "none",
                        setting.text(after) or "none",
                    )
                )
    return changes
