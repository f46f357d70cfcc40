"""Time one reconciliation pass over N people (1,000 by default) on the local stack.

    .venv/bin/python benchmarks/reconcile.py --people 1000 [--stack-dir DIR]

Needs PostgreSQL on 127.0.0.1; starts the local stack in a temporary folder unless --stack-dir
names a running one (the objects made here then stay in it, as orphans once the benchmark's
database is gone). The people and their objects are made straight through the systems' APIs,
in bulk where they allow it, not through runs: only the pass is measured. It prints figures and
asserts nothing:

- each system's inventory on its own: seconds and round trips;
- the whole pass (`reconcile`, findings stored), and what it found about the benchmark's people.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

# The same database and stack set-up, and the same clean-up, as the lifecycle benchmark.
from benchmarks.lifecycle import cleanup, prepare_environment  # noqa: E402

READ_ONLY_POLICY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def in_chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def freeipa_users_make(env: dict[str, str], usernames: list[str], group: str) -> dict[str, int]:
    """The users, made 100 a call, and put in the team's group at once; their uid numbers."""
    from python_freeipa import ClientMeta

    admin = ClientMeta(env["FREEIPA_HOST"], verify_ssl=env["FREEIPA_CA_FILE"], dns_discovery=False)
    admin.login(env["FREEIPA_USERNAME"], env["FREEIPA_PASSWORD"])
    uids = {}
    for chunk in in_chunks(usernames, 100):
        calls = [
            {"method": "user_add", "params": [[name], {"givenname": "Bench", "sn": "Mark"}]}
            for name in chunk
        ]
        for name, result in zip(chunk, admin.batch(a_methods=calls)["results"], strict=True):
            uids[name] = int(result["result"]["uidnumber"][0])
    for chunk in in_chunks(usernames, 500):
        admin.group_add_member(a_cn=group, o_user=chunk)
    admin.logout()
    return uids


def hub_users_make(env: dict[str, str], usernames: list[str], group: str) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"token {env['JUPYTERHUB_API_TOKEN']}"
    api = f"{env['JUPYTERHUB_URL']}/hub/api"
    session.post(f"{api}/groups/{group}", timeout=60).raise_for_status()
    for chunk in in_chunks(usernames, 200):
        session.post(f"{api}/users", json={"usernames": chunk}, timeout=60).raise_for_status()
        session.post(
            f"{api}/groups/{group}/users", json={"users": chunk}, timeout=60
        ).raise_for_status()


def aws_objects_make(uids: dict[str, int], team: str) -> None:
    """Each person's access point and role, as the connectors make them, a few at a time."""
    from onboarding.systems import clients

    systems = clients()

    def make(username: str) -> None:
        access_point = systems.efs.access_point_create(
            username=username, team=team, uid=uids[username], gid=uids[username],
            look_first=False,
        )  # fmt: skip
        systems.iam.role_create(
            username=username, team=team, policy_arns=[READ_ONLY_POLICY],
            access_point_arn=access_point.arn,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(make, uids))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--stack-dir", help="use this running sandbox stack")
    parser.add_argument("--keep", action="store_true", help="keep the database and the stack")
    args = parser.parse_args()

    env = prepare_environment(args)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from onboarding.models import Person
    from onboarding.services import reconcile, team_set
    from onboarding.systems import enabled, round_trips
    from onboarding.systems.jupyterhub.steps import team_hub_group

    try:
        tag = uuid.uuid4().hex[:5]
        team, _ = team_set(
            name=f"bench-{tag}", group=f"bench-{tag}", policy_arns=[READ_ONLY_POLICY],
            system_settings={"jupyterhub": {"group": f"bench-{tag}"}}, actor="bench",
        )  # fmt: skip
        usernames = [f"r{tag}{i:05d}" for i in range(args.people)]
        print(f"Reconciliation benchmark: {args.people} people, {os.cpu_count()} CPUs")

        began = time.perf_counter()
        uids = freeipa_users_make(env, usernames, team.freeipa_group)
        hub_users_make(env, usernames, team_hub_group(team))
        aws_objects_make(uids, team.name)
        Person.objects.bulk_create(
            Person(
                username=name,
                first_name="Bench",
                last_name="Mark",
                email=f"{name}@example.test",
                team=team,
                status=Person.Status.ACTIVE,
                uid_number=uid,
                gid_number=uid,
            )
            for name, uid in uids.items()
        )
        print(f"made {args.people} people and their objects in {time.perf_counter() - began:.1f} s")

        for system in enabled():
            before = round_trips().get(system.name, 0)
            began = time.perf_counter()
            listed = system.inventory()
            seconds = time.perf_counter() - began
            trips = round_trips().get(system.name, 0) - before
            print(f"  inventory {system.name:<11} {seconds:6.2f} s  {trips:4d} round trips  "
                  f"{len(listed):6d} objects")  # fmt: skip

        before = sum(round_trips().values())
        began = time.perf_counter()
        findings = reconcile(actor="bench")
        seconds = time.perf_counter() - began
        trips = sum(round_trips().values()) - before
        ours = [finding for finding in findings if finding.username in uids]
        print(
            f"one pass over {Person.objects.count()} people: {seconds:.2f} s, {trips} round "
            f"trips, {len(findings)} findings ({len(ours)} about the benchmark's people)"
        )
        began = time.perf_counter()
        reconcile(actor="bench")
        print(f"a second pass (findings known): {time.perf_counter() - began:.2f} s")
    finally:
        cleanup(args, env)


if __name__ == "__main__":
    main()
