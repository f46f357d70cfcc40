"""A downstream system that lives in memory, registered from the engine tests only.

It is built the way docs/adding-a-system.md says a system is built, so it also proves the
recipe: a client, steps with do/check/undo, live state, inventory and a settings check. Tests
reach its client through the registry (`system("fake").client`) to see what a run did and to
make the next calls fail.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field

from onboarding.errors import AlreadyExists, NotFound, TransientError
from onboarding.models import Credential, Person, Team
from onboarding.steps import PlanStep, StepContext
from onboarding.systems import DirectoryAccount, ManagedObject, System, SystemState
from onboarding.systems._counting import request_allowed

SYSTEM = "fake"


@dataclass
class Account:
    username: str
    team: str
    disabled: bool = False
    keys: int = 0
    secret: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""


@dataclass
class FakeDirectory:
    """The fake system's client: accounts in a dict, every call counted, failures on demand."""

    accounts: dict[str, Account] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    reachable: bool = True
    _failures: dict[str, list[Exception]] = field(default_factory=dict)
    _actions: dict[str, list] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _trips: threading.local = field(default_factory=threading.local)

    @property
    def round_trips(self) -> int:
        return getattr(self._trips, "count", 0)

    def before(self, operation: str, action) -> None:
        """Run `action()` before the next call of `operation`, as if something else happened
        meanwhile (a database restart, another worker)."""
        self._actions.setdefault(operation, []).append(action)

    def fail(self, operation: str, error: Exception, *, times: int = 1) -> None:
        """The next `times` calls of `operation` raise `error` (before doing anything)."""
        self._failures.setdefault(operation, []).extend([error] * times)

    def _call(self, operation: str) -> None:
        request_allowed()
        self._trips.count = self.round_trips + 1
        with self._lock:
            self.calls[operation] += 1
            pending = self._failures.get(operation)
            error = pending.pop(0) if pending else None
            actions = self._actions.pop(operation, [])
        for action in actions:
            action()
        if not self.reachable:
            raise TransientError(SYSTEM, "cannot reach the fake directory")
        if error is not None:
            raise error

    def account_find(self, username: str) -> Account | None:
        self._call("account_find")
        return self.accounts.get(username)

    def account_create(self, username: str, team: str) -> Account:
        self._call("account_create")
        if username in self.accounts:
            raise AlreadyExists(SYSTEM, f"account {username} exists")
        self.accounts[username] = Account(username, team)
        return self.accounts[username]

    def account_delete(self, username: str) -> None:
        self._call("account_delete")
        self.accounts.pop(username, None)

    def account_set(self, username: str, **changes) -> None:
        self._call("account_set")
        account = self.accounts[username]
        for name, value in changes.items():
            setattr(account, name, value)

    def account_details_set(self, username: str, **details: str) -> None:
        self._call("account_details_set")
        if username not in self.accounts:
            raise NotFound(SYSTEM, f"no account {username}")
        for name, value in details.items():
            setattr(self.accounts[username], name, value)

    def whoami(self) -> str:
        self._call("whoami")
        return "service account fake-admin"


class FakeStep(PlanStep):
    system = SYSTEM


class AccountCreate(FakeStep):
    name = "fake_account"
    description = "Create their fake account"

    def do(self, ctx: StepContext) -> dict:
        account = ctx.client.account_create(ctx.username, ctx.team.name)
        return {"account": account.username}

    def check(self, ctx: StepContext) -> dict | None:
        account = ctx.client.account_find(ctx.username)
        return {"account": account.username} if account else None

    def undo(self, ctx: StepContext) -> None:
        ctx.client.account_delete(ctx.username)


class KeyIssue(FakeStep):
    name = "fake_key"
    description = "Issue their fake key"

    def do(self, ctx: StepContext) -> dict:
        ctx.client.account_set(ctx.username, keys=1)
        return {"keys": 1}

    def check(self, ctx: StepContext) -> dict | None:
        account = ctx.client.account_find(ctx.username)
        return {"keys": account.keys} if account and account.keys else None

    def undo(self, ctx: StepContext) -> None:
        if ctx.client.account_find(ctx.username):
            ctx.client.account_set(ctx.username, keys=0)


class TeamJoin(FakeStep):
    name = "fake_team"
    description = "Put their fake account in the team"
    needs = ("fake_key",)

    def do(self, ctx: StepContext) -> dict:
        ctx.client.account_set(ctx.username, team=ctx.team.name)
        return {"team": ctx.team.name}

    def check(self, ctx: StepContext) -> dict | None:
        account = ctx.client.account_find(ctx.username)
        return {"team": account.team} if account and account.team == ctx.team.name else None

    def undo(self, ctx: StepContext) -> None:
        previous = ctx.previous_team.name if ctx.previous_team else ""
        if ctx.client.account_find(ctx.username):
            ctx.client.account_set(ctx.username, team=previous)


class AccountDisable(FakeStep):
    name = "fake_disable"
    description = "Disable their fake account"

    def do(self, ctx: StepContext) -> dict:
        ctx.client.account_set(ctx.username, disabled=True, keys=0)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        account = ctx.client.account_find(ctx.username)
        return {} if account is None or account.disabled else None

    def undo(self, ctx: StepContext) -> None:
        ctx.client.account_set(ctx.username, disabled=False)


class AccountEnable(FakeStep):
    name = "fake_enable"
    description = "Enable their fake account"
    needs = ("fake_account",)

    def do(self, ctx: StepContext) -> dict:
        ctx.client.account_set(ctx.username, disabled=False)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        account = ctx.client.account_find(ctx.username)
        return {} if account is not None and not account.disabled else None

    def undo(self, ctx: StepContext) -> None:
        ctx.client.account_set(ctx.username, disabled=True)


class SecretReissue(FakeStep):
    name = "fake_secret"
    description = "Give their fake account a new secret, handed over once"

    def do(self, ctx: StepContext) -> dict:
        secret = secrets.token_urlsafe(12)
        ctx.client.account_set(ctx.username, secret=secret)
        ctx.hand_over(Credential.Kind.TEMPORARY_PASSWORD, secret)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        return {} if ctx.handed_over(Credential.Kind.TEMPORARY_PASSWORD) else None

    def undo(self, ctx: StepContext) -> None:
        """A secret handed out cannot be taken back."""


ACCOUNT_CREATE = AccountCreate()
KEY_ISSUE = KeyIssue()
TEAM_JOIN = TeamJoin()
ACCOUNT_DISABLE = AccountDisable()
ACCOUNT_ENABLE = AccountEnable()
SECRET_REISSUE = SecretReissue()


class FakeSystem(System):
    name = SYSTEM
    label = "Fake directory"
    steps = {
        ("onboard", "account"): (ACCOUNT_CREATE,),
        ("onboard", "access"): (KEY_ISSUE, TEAM_JOIN),
        ("offboard", "cut_off"): (ACCOUNT_DISABLE,),
        ("move", "team"): (TEAM_JOIN,),
        ("reinstate", "account"): (ACCOUNT_ENABLE,),
        ("reinstate", "access"): (KEY_ISSUE, TEAM_JOIN),
        ("repair", "account"): (ACCOUNT_CREATE, ACCOUNT_ENABLE),
        ("repair", "access"): (KEY_ISSUE, TEAM_JOIN),
        ("reset", "password"): (SECRET_REISSUE,),
    }
    provides = ("fake_account_team",)

    def client_build(self) -> FakeDirectory:
        return FakeDirectory()

    def person_state(self, person: Person) -> SystemState:
        account = self.client.account_find(person.username)
        if account is None:
            return SystemState(self.label, False, "no account")
        state = "disabled" if account.disabled else "active"
        return SystemState(self.label, True, f"{state}; team {account.team}; keys {account.keys}")

    def inventory(self) -> list[ManagedObject]:
        """The accounts that let someone in (a disabled one does not), in one listing."""
        self.client._call("account_list")
        return [
            ManagedObject(
                SYSTEM,
                "account",
                username,
                username,
                f"team {account.team}",
                {"team": account.team, "keys": str(account.keys)},
            )
            for username, account in sorted(self.client.accounts.items())
            if not account.disabled
        ]

    def expected(self, person: Person) -> list[ManagedObject]:
        compared = {"team": person.team.name, "keys": "1"}
        return [ManagedObject(SYSTEM, "account", person.username, person.username, "", compared)]

    def orphan_remove(self, item: ManagedObject) -> None:
        self.client.account_delete(item.username)

    def account_details(self, username: str) -> DirectoryAccount | None:
        account = self.client.account_find(username)
        if account is None:
            return None
        return DirectoryAccount(
            username=username, first_name=account.first_name, last_name=account.last_name,
            email=account.email, uid_number=None, gid_number=None, disabled=account.disabled,
        )  # fmt: skip

    def onboard_problem(self, username: str) -> str | None:
        if self.client.account_find(username) is not None:
            return f"The username {username!r} is taken in the fake directory."
        return None

    def onboard_problems(self, usernames: list[str]) -> dict[str, str]:
        """One round trip for them all, as a real system asks in one batch."""
        self.client._call("accounts_find")
        return {
            username: f"The username {username!r} is taken in the fake directory."
            for username in usernames
            if username in self.client.accounts
        }

    def person_details_set(
        self, *, person: Person, first_name: str, last_name: str, email: str
    ) -> None:
        self.client.account_details_set(
            person.username, first_name=first_name, last_name=last_name, email=email
        )

    def team_apply(self, *, team: Team, leads: list[str]) -> None:
        self.client._call("team_apply")

    def settings_problems(self) -> list[str]:
        from django.conf import settings

        return list(getattr(settings, "FAKE_SETTINGS_PROBLEMS", []))

    def credentials_check(self) -> str:
        return self.client.whoami()

    def team_problem(self, team: Team) -> str | None:
        from django.conf import settings

        return getattr(settings, "FAKE_TEAM_PROBLEMS", {}).get(team.name)

    def fact(self, name: str, person: Person) -> str | None:
        account = self.client.account_find(person.username)
        return account.team if account else None
