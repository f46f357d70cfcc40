"""Small builders for domain objects used across tests."""

from onboarding.models import LifecycleRun, Person, Team


def make_team(name: str = "vision", **fields) -> Team:
    fields.setdefault("freeipa_group", f"team-{name}")
    fields.setdefault("system_settings", {"jupyterhub": {"group": f"team-{name}"}})
    return Team.objects.create(name=name, **fields)


def make_person(username: str = "alice", team: Team | None = None, **fields) -> Person:
    fields.setdefault("first_name", username.capitalize())
    fields.setdefault("last_name", "Example")
    fields.setdefault("email", f"{username}@example.test")
    return Person.objects.create(username=username, team=team or make_team(), **fields)


def make_run(person: Person, kind: str = LifecycleRun.Kind.ONBOARD, **fields) -> LifecycleRun:
    fields.setdefault("actor", "admin")
    return LifecycleRun.objects.create(person=person, kind=kind, **fields)
