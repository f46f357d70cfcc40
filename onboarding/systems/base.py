"""What every downstream system package provides, so the engine and the web UI can treat them
alike: its steps in the plans, a person's live state, its inventory and a check of its settings."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from onboarding.errors import InvalidInput

if TYPE_CHECKING:
    from onboarding.models import Person, Team
    from onboarding.steps import PlanStep


@dataclass(frozen=True)
class SystemState:
    """What a system holds for one person right now, in a line a person reads."""

    system: str
    present: bool | None  # None: the system did not answer
    summary: str
    error: str = ""


@dataclass(frozen=True)
class ManagedObject:
    """Something in a system that AccessAdmin made and looks after, and whose it is."""

    system: str
    kind: str
    id: str
    username: str
    detail: str = ""
    # What reconciliation compares with what AccessAdmin expects, as words: {"groups": "a, b"}.
    compared: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class DirectoryAccount:
    """A person's account as the directory keeps it, for taking an orphan in as a person."""

    username: str
    first_name: str
    last_name: str
    email: str
    uid_number: int | None
    gid_number: int | None
    disabled: bool


@dataclass(frozen=True)
class Check:
    """One thing preflight found out about a system: fine, worth a warning, or failing, and
    how to put it right."""

    subject: str
    verdict: str  # ok, warning or failed
    detail: str
    fix: str = ""

    OK: ClassVar[str] = "ok"
    WARNING: ClassVar[str] = "warning"
    FAILED: ClassVar[str] = "failed"

    @property
    def failed(self) -> bool:
        return self.verdict == self.FAILED


def text_list(value: Any) -> str:
    """A list setting as one line people read and type: its items, separated by commas."""
    return ", ".join(value) if value else ""


@dataclass(frozen=True)
class TeamSetting:
    """One value each team holds for a system (the database roles its members join, say),
    declared by the system; the team form, `team_set`, the API, previews and steps find it here.

    `parse` takes what a person typed (text) or what the API sent (its JSON value) and returns
    the value to store, or raises InvalidInput saying what is wrong; `text` shows a stored value
    the way `parse` reads it back. `ask`, when given, asks the system about a parsed value before
    a team is saved with it (`ask(system, value)`: why it cannot be, or None)."""

    name: str
    label: str
    help_text: str
    parse: Callable[[Any], Any]
    default: Any = ""
    text: Callable[[Any], str] = str
    ask: Callable[[Any, Any], str | None] | None = None


def names_parse(value: Any, *, label: str, check: Callable[[str], None]) -> list[str]:
    """A list of names from text ("a, b" or one per line) or a JSON list, each checked by
    `check` (which raises InvalidInput), without repeats, in the order given."""
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value if item.strip()]
    else:
        raise InvalidInput(f"{label}: give a list of names, not {type(value).__name__}.")
    names: list[str] = []
    for item in items:
        check(item)
        if item not in names:
            names.append(item)
    return names


class System:
    """A downstream system. Subclasses live in `onboarding/systems/<name>/` and are named in
    `ACCESSADMIN_SYSTEMS`; nothing outside their package uses their client directly."""

    name: ClassVar[str]
    label: ClassVar[str]
    # The steps this system adds to each plan stage: {(plan kind, stage name): (step, ...)}.
    steps: ClassVar[Mapping[tuple[str, str], tuple[PlanStep, ...]]] = {}
    # Facts about a person this system can tell other systems' steps (see `fact`).
    provides: ClassVar[tuple[str, ...]] = ()
    # What each team holds for this system, stored in Team.system_settings[name].
    team_settings: ClassVar[tuple[TeamSetting, ...]] = ()
    # Its steps in words people read in previews and on run pages, by step name; each is given
    # the plan's words (web/plan_words.py `Words`: the person, the team, its settings).
    step_words: ClassVar[Mapping[str, Callable[[Any], str]]] = {}

    def __init__(self) -> None:
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The system's client, built on first use and shared by every thread afterwards."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self.client_build()
        return self._client

    def client_build(self) -> Any:
        raise NotImplementedError

    @property
    def round_trips(self) -> int:
        """Requests this thread has sent to the system (0 before the client is built)."""
        return self._client.round_trips if self._client is not None else 0

    def person_state(self, person: Person) -> SystemState:
        raise NotImplementedError

    def inventory(self) -> list[ManagedObject]:
        """Every object in the system that AccessAdmin manages, in as few calls as it can (one
        listing, or one call per team group; never one per person), each with what
        reconciliation compares."""
        raise NotImplementedError

    def expected(self, person: Person) -> list[ManagedObject]:
        """What the inventory should list for this active person, as AccessAdmin believes it
        (asks the system nothing); `compared` holds only what is checked."""
        return []

    def orphan_remove(self, item: ManagedObject) -> None:
        """Take away an object of this system's inventory that belongs to no person AccessAdmin
        knows, the way offboarding takes a person's. Raises DownstreamError when the system
        refuses (an object AccessAdmin did not tag, say) or cannot be reached."""
        raise NotImplementedError

    def account_details(self, username: str) -> DirectoryAccount | None:
        """The account this system keeps under the username, if it is the directory that
        people's names, e-mail and uid come from; None otherwise, or when it has none."""
        return None

    def onboard_problem(self, username: str) -> str | None:
        """Why this username cannot be onboarded here (taken already, say); None when it can."""
        return None

    def onboard_problems(self, usernames: list[str]) -> dict[str, str]:
        """`onboard_problem` for many usernames (a bulk file's), only those with one. A system
        that can ask about many at once overrides it, so a file's check costs the same few
        round trips whatever its length."""
        problems = {username: self.onboard_problem(username) for username in usernames}
        return {username: problem for username, problem in problems.items() if problem}

    def person_details_set(
        self, *, person: Person, first_name: str, last_name: str, email: str
    ) -> None:
        """Give the person's account here this name and e-mail; a system that keeps neither
        has nothing to do. Raises DownstreamError when the system refuses or cannot be reached."""

    def team_apply(self, *, team: Team, leads: list[str] | None) -> None:
        """Make what a team needs in this system (a group; with `leads`, exactly those as its
        managers); safe to repeat."""

    def team_leads(self, team: Team) -> set[str]:
        """Who leads the team as this system sees it (FreeIPA: its group's member managers)."""
        return set()

    def lead_problem(self, username: str) -> str | None:
        """Why this person cannot lead a team here (no such account, disabled); None if they can."""
        return None

    def policy_problem(self, arn: str) -> str | None:
        """Why this policy cannot be a team's here (it does not exist); None if it can."""
        return None

    def settings_problems(self) -> list[str]:
        """What is missing or malformed in this system's settings; asks the system nothing."""
        return []

    def credentials_check(self) -> str:
        """One harmless call as the service account; says who it is or raises DownstreamError."""
        raise NotImplementedError

    def preflight(self) -> list[Check]:
        """Everything a run will need of this system, tried with harmless calls as the service
        account: its login, each right, quotas. A system says more by overriding it."""
        return [Check("service account", Check.OK, self.credentials_check())]

    def team_problem(self, team: Team) -> str | None:
        """Why a run for a person of this team would fail half-way here (more policies than a
        role may hold, say); None when nothing is known against it."""
        return None

    def login_link(self) -> tuple[str, str] | None:
        """Where a newcomer logs in to this system, for the hand-over: (what, address)."""
        return None

    def fact(self, name: str, person: Person) -> Any:
        """One of `provides`, asked of the system for a step of another system."""
        raise KeyError(name)
