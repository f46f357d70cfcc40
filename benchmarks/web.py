"""Server time of the web admin's busiest pages on a large database.

    .venv/bin/python benchmarks/web.py --people 10000 --events 500000 --requests 200

Creates a fresh PostgreSQL database (dropped at the end unless --keep), migrates it, seeds people,
their runs and steps, and a valid audit hash chain, then times requests through Django's test
client in this process: what the server spends per request, database included, network excluded.
Prints p50/p95 per page and flags any p95 over the 100 ms target. No stack is needed: these pages
only read the database.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

TARGET_MS = 100.0
TEAMS = 50
BATCH = 5000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def database_create(postgres: str) -> str:
    import psycopg

    name = f"accessadmin_webbench_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def database_drop(postgres: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(people: int, events: int) -> None:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from onboarding.models import AuditEvent, LifecycleRun, Person, Step, Team
    from onboarding.plans import plan_for

    rng = random.Random(7)  # noqa: S311 - repeatable seed data, not a secret
    leads = [User.objects.create(username=f"lead-{n}") for n in range(TEAMS)]
    teams = []
    for n in range(TEAMS):
        team = Team.objects.create(name=f"team-{n}", freeipa_group=f"team-{n}")
        team.leads.add(leads[n])
        teams.append(team)
    statuses = [s for s, _ in Person.Status.choices]
    Person.objects.bulk_create(
        (
            Person(
                username=f"user{n:05d}", first_name="Seed", last_name=f"Person{n}",
                email=f"user{n:05d}@example.test", team=teams[n % TEAMS],
                status=rng.choice(statuses),
            )
            for n in range(people)
        ),
        batch_size=BATCH,
    )  # fmt: skip
    person_ids = list(Person.objects.values_list("pk", "username"))
    now = timezone.now()
    LifecycleRun.objects.bulk_create(
        (
            LifecycleRun(person_id=pk, kind="onboard", state="succeeded", actor="lead-0",
                         started_at=now, finished_at=now)
            for pk, _ in person_ids
        ),
        batch_size=BATCH,
    )  # fmt: skip
    specs = plan_for("onboard").steps
    run_ids = LifecycleRun.objects.values_list("pk", flat=True)
    Step.objects.bulk_create(
        (
            Step(run_id=run_id, name=spec.name, position=i, state="done", attempts=1)
            for run_id in run_ids.iterator()
            for i, spec in enumerate(specs, start=1)
        ),
        batch_size=BATCH,
    )
    # Each action with its usual outcomes, mostly the first.
    outcomes_of = {
        "onboard.request": ["requested"],
        "onboard.run": ["succeeded", "succeeded", "succeeded", "failed"],
        "step.do": ["succeeded"] * 8 + ["retried", "failed"],
        "login": ["succeeded", "succeeded", "failed", "denied"],
        "offboard.request": ["requested"],
        "access.denied": ["denied"],
    }
    actions = list(outcomes_of)
    start = now - timedelta(days=365)
    previous = AuditEvent.GENESIS_HASH
    batch: list[AuditEvent] = []
    for n in range(events):
        _, username = person_ids[rng.randrange(len(person_ids))]
        action = actions[rng.randrange(len(actions))]
        event = AuditEvent(
            at=start + timedelta(seconds=n * 365 * 86400 / events),
            actor=f"lead-{rng.randrange(TEAMS)}", action=action, target=username,
            outcome=rng.choice(outcomes_of[action]), details={"n": n}, previous_hash=previous,
        )  # fmt: skip
        event.hash = event.chain_hash()
        previous = event.hash
        batch.append(event)
        if len(batch) == BATCH:
            # bulk_create skips save(): the chain is computed above, in order, as save() would.
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(requests: int) -> dict[str, list[float]]:
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from onboarding.models import AuditEvent, Person

    admin = User.objects.create_superuser("bench-admin", password=None)
    today = timezone.localdate()

    def month_ago(days: int) -> str:
        return (today - timedelta(days=days)).isoformat()

    deep_page_start = AuditEvent.objects.order_by("-at", "-id").values_list("id", flat=True)[1000]
    client = Client()
    client.force_login(admin, "django.contrib.auth.backends.ModelBackend")  # break-glass
    usernames = list(Person.objects.values_list("username", flat=True))
    rng = random.Random(11)  # noqa: S311 - repeatable request mix
    pages = {
        "people list": lambda: f"/people/?page={rng.randint(1, 200)}",
        "people list, filtered": lambda: (
            f"/people/?team=team-{rng.randrange(TEAMS)}&status=active&q=user"
        ),
        "person page": lambda: f"/people/{rng.choice(usernames)}/",
        "audit log, by actor": lambda: f"/audit/?actor=lead-{rng.randrange(TEAMS)}",
        "audit log, by person": lambda: f"/audit/?person={rng.choice(usernames)}",
        "audit log, action+outcome": lambda: "/audit/?action=step.do&outcome=failed",
        "audit log, a month long ago": lambda: (
            f"/audit/?since={month_ago(300)}&until={month_ago(270)}"
        ),
        "audit log, rare pair, all dates": lambda: (
            "/audit/?action=login&outcome=requested&since=2000-01-01&until=2100-01-01"
        ),
        "audit log, 20th page": lambda: f"/audit/?before={deep_page_start}",
    }
    timings: dict[str, list[float]] = {}
    for label, url in pages.items():
        for _ in range(5):  # warm caches and connections
            client.get(url())
        seconds = []
        for _ in range(requests):
            path = url()
            began = time.perf_counter()
            response = client.get(path)
            seconds.append(time.perf_counter() - began)
            assert response.status_code == 200, (path, response.status_code)
        timings[label] = seconds
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    name = database_create(args.postgres)
    os.environ.update(
        ACCESSADMIN_ENV="test",
        DJANGO_SETTINGS_MODULE="accessadmin.settings",
        DATABASE_URL=f"{args.postgres}/{name}",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
    )
    import django
    from django.core.management import call_command

    django.setup()
    failed = False
    try:
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        seed(args.people, args.events)
        print(f"seeded {args.people} people, {args.events} audit events in "
              f"{time.perf_counter() - began:.0f} s (database {name})")  # fmt: skip
        for label, seconds in measure(args.requests).items():
            p50, p95 = percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000
            verdict = "ok" if p95 <= TARGET_MS else f"OVER the {TARGET_MS:.0f} ms target"
            failed |= p95 > TARGET_MS
            print(f"{label:<34} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   "
                  f"mean {statistics.mean(seconds) * 1000:6.1f} ms   n={len(seconds)}   "
                  f"{verdict}")  # fmt: skip
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            database_drop(args.postgres, name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
