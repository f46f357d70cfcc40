"""The shape of a plan step, and what a step is handed when it runs.

A step is a `PlanStep` with three methods of a `StepContext`:
- `do` makes the change and returns the external ids worth remembering;
- `check` returns those ids when the change is already in place, `None` otherwise, and changes
  nothing (dry runs and retries rely on that);
- `undo` reverses `do`; undoing something that is not there is fine. It may return ids that
  later undos need (a re-made access point's ARN, say).

Steps live in their system's package (`onboarding/systems/<name>/steps.py`) and use only that
system's client, `ctx.client`; what they need from another system they ask as a `fact`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from onboarding.credentials import credential_store
from onboarding.models import Credential, LifecycleRun, Person, Step, Team
from onboarding.systems import registry
from onboarding.team_settings import team_setting


@dataclass
class StepContext:
    person: Person
    team: Team
    run: LifecycleRun | None = None
    record: Step | None = None
    previous_team: Team | None = None
    # The external ids of the steps done so far in this run, by step name.
    outputs: dict[str, dict] = field(default_factory=dict)
    # The client of the system whose step is running, and that system's name.
    client: Any = None
    system: str = ""

    @property
    def username(self) -> str:
        return self.person.username

    @property
    def retrying(self) -> bool:
        return self.record is not None and self.record.attempts > 1

    def team_setting(self, name: str) -> Any:
        """The team's value of one of this step's system's team settings (the new team's in a
        move), or the setting's default."""
        return team_setting(self.team, self.system, name)

    def previous_team_setting(self, name: str) -> Any:
        """The same for the team a move comes from (the team itself when nothing moves)."""
        return team_setting(self.previous_team or self.team, self.system, name)

    def hand_over(self, kind: str, secret: str) -> None:
        credential_store(run=self.run, kind=kind, secret=secret)

    def handed_over(self, kind: str) -> bool:
        return (
            self.run is not None
            and Credential.objects.filter(
                run=self.run, kind=kind, ciphertext__isnull=False
            ).exists()
        )

    def fact(self, name: str) -> Any:
        """A fact about the person (an access point's ARN, say): from this run's steps when one
        recorded it, else asked of the system that provides it; None when nobody knows it."""
        for ids in self.outputs.values():
            if ids and name in ids:
                return ids[name]
        return registry.fact(name, self.person)


class PlanStep:
    """One step of a plan. `name` is stored on every run's step rows: never rename one."""

    name: ClassVar[str]
    system: ClassVar[str]
    description: ClassVar[str]
    # Steps of the same stage that must be done first (in the plans that have them); every
    # earlier stage is done anyway.
    needs: ClassVar[tuple[str, ...]] = ()

    def do(self, ctx: StepContext) -> dict:
        raise NotImplementedError

    def check(self, ctx: StepContext) -> dict | None:
        raise NotImplementedError

    def undo(self, ctx: StepContext) -> dict | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<step {self.name}>"
