"""The audit trail as a person reads it: a run's steps under the run, details as labelled
fields in people's words (ids and raw values kept behind "Technical details"), a worker named as
such, and a team change as what changed. The records stay as written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from onboarding.models import AuditEvent, Credential, Team
from onboarding.systems import enabled

STEP_ACTIONS = ("step.do", "step.undo")
TEAM_ACTIONS = ("team.create", "team.change")
# What every team event holds, so one can stand for the team's settings before a change.
TEAM_FIELDS = ("group", "leads", "policy_arns")
# Compared too where both events hold it: jupyterhub_group only in events written before the hub
# group became JupyterHub's team setting, system_settings only in those since systems had any.
TEAM_FIELDS_SOMETIMES = ("jupyterhub_group", "system_settings")
# A worker writes as "<celery hostname>:<task id>"; the task id says nothing to a reader.
_WORKER = re.compile(r"^(?P<host>[^\s:]+@[^\s:]+):[0-9a-f]{8}-[0-9a-f-]{27}$")
LABELS = {
    "group": "FreeIPA group",
    "leads": "Leads",
    "leads_removed": "Leads removed",
    "policy_arns": "IAM policies",
    "jupyterhub_group": "JupyterHub group",
    "system_settings": "Systems' team settings",
    "via": "Via",
    "from": "From",
    "ip": "Address",
    "step": "Step",
    "attempt": "Attempt",
    "error": "Error",
    "reason": "Reason",
    "why": "Why",
    "method": "Method",
    "from_team": "From team",
    "to_team": "To team",
    "email": "E-mail",
    "kinds": "Credentials",
    "round_trips": "Calls to each system",
    "system": "System",
}
# What a credential kind is called in a sentence.
CREDENTIAL_WORDS = {
    Credential.Kind.TEMPORARY_PASSWORD: "a temporary password",
    Credential.Kind.OTP_ENROLMENT: "an OTP enrolment",
}


@dataclass(frozen=True)
class Field:
    """A detail as read: its label, its value in words, and the raw value when they differ."""

    label: str
    value: str
    technical: str = ""


@dataclass
class Entry:
    """One line of the log: an event, with the step events of its run tucked under it."""

    event: AuditEvent
    steps: list[AuditEvent] = field(default_factory=list)
    previous: dict | None = None  # a team change: the team's settings before it
    team_names: dict[int, str] = field(default_factory=dict)  # the teams its details name by id

    @property
    def actor(self) -> str:
        return actor_name(self.event.actor)

    @property
    def actor_host(self) -> str:
        match = _WORKER.match(self.event.actor)
        return match["host"] if match else ""

    @property
    def fields(self) -> list[Field]:
        return detail_fields(self.event.details, previous=self.previous,
                             team_names=self.team_names)  # fmt: skip


def actor_name(actor: str) -> str:
    return "worker" if _WORKER.match(actor) else actor


def _text(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_text(item)}" for key, item in value.items()) or "none"
    if value in ("", None):
        return "none"
    return str(value)


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " ").capitalize())


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def system_label(name: str) -> str:
    return {system.name: system.label for system in enabled()}.get(name, name)


def _in_words(key: str, value, team_names: dict[int, str]) -> Field | None:
    """A detail whose raw value means little to a reader, in words; None for any other."""
    if key == "kinds" and isinstance(value, list):
        said = sorted(CREDENTIAL_WORDS.get(kind, str(kind).replace("_", " ")) for kind in value)
        return Field(_label(key), _words(said) if said else "none", _text(value))
    if key == "round_trips" and isinstance(value, dict):
        said = [f"{system_label(name)}: {count}" for name, count in value.items()]
        return Field(_label(key), ", ".join(said) or "none", _text(value))
    if key == "system" and isinstance(value, str):
        label = system_label(value)
        return Field(_label(key), label, value if label != value else "")
    if key.endswith("_team_id"):
        name = team_names.get(value) if isinstance(value, int) else None
        label = _label(key.removesuffix("_id"))
        return Field(label, name or "a team since deleted", f"team id {value}")
    return None


def detail_fields(
    details: dict, *, previous: dict | None = None, team_names: dict[int, str] | None = None
) -> list[Field]:
    """A Field for each detail worth reading; with `previous` (a team's settings before a
    change), only what changed, as before → after."""
    fields = []
    for key, value in details.items():
        if key == "run" or (key == "leads_removed" and not value):
            continue
        if key.endswith("_id") and key.removesuffix("_id") in details:
            continue  # said by name in its own field, the id beside it
        if previous is not None and key in TEAM_FIELDS + TEAM_FIELDS_SOMETIMES and key in previous:
            if _text(previous[key]) == _text(value):
                continue
            fields.append(Field(_label(key), f"{_text(previous[key])} → {_text(value)}"))
            continue
        if isinstance(value, dict) and set(value) == {"before", "after"}:
            # A person's name or e-mail changed (person.update).
            fields.append(Field(_label(key), f"{_text(value['before'])} → {_text(value['after'])}"))
            continue
        said = _in_words(key, value, team_names or {})
        if said is None:
            named_id = details.get(f"{key}_id")
            technical = f"{_label(key).lower()} id {named_id}" if named_id is not None else ""
            said = Field(_label(key), _text(value), technical)
        fields.append(said)
    return fields


def entries(events: list[AuditEvent], *, group_steps: bool = True) -> list[Entry]:
    """The events as lines, newest first. A step event goes under its run's newest other event
    on the page; one whose run has none here stays a line of its own."""
    lines = [Entry(event) for event in events]
    if group_steps:
        heads: dict[int, Entry] = {}
        for line in lines:
            if line.event.run_id and line.event.action not in STEP_ACTIONS:
                heads.setdefault(line.event.run_id, line)
        kept = []
        for line in lines:
            head = heads.get(line.event.run_id) if line.event.action in STEP_ACTIONS else None
            if head is None:
                kept.append(line)
            else:
                head.steps.append(line.event)
        for head in heads.values():
            head.steps.reverse()  # oldest first, as the run did them
        lines = kept
    _team_changes_compare(lines)
    _teams_named(lines)
    return lines


def _teams_named(lines: list[Entry]) -> None:
    """The names of the teams the page's details give only by id: one query for the page."""
    ids = {
        value
        for line in lines
        for key, value in line.event.details.items()
        if key.endswith("_team_id") and key.removesuffix("_id") not in line.event.details
        and isinstance(value, int)
    }  # fmt: skip
    if not ids:
        return
    names = dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))
    for line in lines:
        line.team_names = names


def _team_changes_compare(lines: list[Entry]) -> None:
    """Each team change beside the team's settings before it: one query for the whole page."""
    changes = [line for line in lines if line.event.action == "team.change"]
    if not changes:
        return
    earlier = (
        AuditEvent.objects.filter(
            action__in=TEAM_ACTIONS,
            target__in={line.event.target for line in changes},
            id__lt=max(line.event.id for line in changes),
        )
        .order_by("id")
        .values_list("id", "target", "details")
    )
    history: dict[str, list[tuple[int, dict]]] = {}
    for event_id, target, details in earlier:
        if all(key in details for key in TEAM_FIELDS):
            history.setdefault(target, []).append((event_id, details))
    for line in changes:
        before = [d for i, d in history.get(line.event.target, []) if i < line.event.id]
        if before and all(key in line.event.details for key in TEAM_FIELDS):
            line.previous = before[-1]
