"""Onboard and offboard N people through AccessAdmin's workers and through a plain script.

    .venv/bin/python benchmarks/lifecycle.py --people 100 --workers 2

Needs PostgreSQL and Redis on 127.0.0.1 (as scripts/test does); starts the local stack in a
temporary folder unless --stack-dir names a running one. It prints figures and asserts nothing:

- the plain script: the same backend calls made one after another through the same connectors;
- one onboarding at a time through a worker (request to finish, queueing included);
- N onboardings requested at once, then N offboardings, with --workers worker processes;
- round trips per system per onboarding, and each worker's resident memory.

With --throttle the AWS stand-in refuses writes over a rate during the batch, as AWS throttles,
and the waits of the runs are counted. With --latency (alone: freeipa=60ms,aws=80ms,
jupyterhub=20ms) a proxy in front of each stand-in (sandbox/latency.py) delays every request,
and instead of the above it prints the throughput of --shapes (workers x threads, fresh workers
each) against the plain script, through the proxies and then without them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


DEFAULT_LATENCY = "freeipa=60ms,aws=80ms,jupyterhub=20ms"
DEFAULT_SHAPES = "1x1,1x4,2x4,2x8"
DEFAULT_THROTTLE = "iam=2"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(label: str, seconds: list[float]) -> str:
    return (
        f"{label:<44} p50 {percentile(seconds, 0.5) * 1000:7.0f} ms   "
        f"p95 {percentile(seconds, 0.95) * 1000:7.0f} ms   n={len(seconds)}"
    )


def prepare_environment(args: argparse.Namespace) -> dict[str, str]:
    import psycopg

    database = f"accessadmin_bench_{uuid.uuid4().hex[:6]}"
    redis_db = getattr(args, "redis_db", 13)
    with psycopg.connect(args.postgres + "/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    from sandbox import stack as sandbox_stack

    state_dir = Path(args.stack_dir or tempfile.mkdtemp(prefix="accessadmin-bench-"))
    state_dir.chmod(0o755)
    endpoints, _ = sandbox_stack.up(state_dir, sandbox_stack.SERVICES)
    env = {
        **os.environ,
        **endpoints,
        "ACCESSADMIN_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "accessadmin.settings",
        "DATABASE_URL": f"{args.postgres}/{database}",
        "CELERY_BROKER_URL": f"{args.redis}/{redis_db}",
        "CELERY_RESULT_BACKEND": f"{args.redis}/{redis_db}",
        "LOG_LEVEL": "WARNING",
        # One actor asks for every run of the batch.
        "LIFECYCLE_REQUESTS_PER_HOUR": "0",
        "BENCH_DATABASE": database,
        "BENCH_STACK_DIR": str(state_dir),
    }
    os.environ.update(env)
    return env


def plain_onboard(people: list[str], team) -> list[float]:
    """What an admin's own script would do: the same calls, one after another, no bookkeeping."""
    from onboarding.systems import clients
    from onboarding.systems.freeipa.steps import temporary_password
    from onboarding.systems.jupyterhub.steps import team_hub_group

    systems = clients()
    systems.freeipa.ping()  # the session exists before timing, as it does in a warm worker
    onboard_times = []
    for username in people:
        started = time.perf_counter()
        user = systems.freeipa.user_create(
            username=username, first_name="Bench", last_name="Mark",
            email=f"{username}@example.test", password=temporary_password(),
        )  # fmt: skip
        systems.freeipa.group_add_members(username=username, groups=team.freeipa_groups)
        systems.freeipa.otp_token_add(username=username, description="bench")
        point = systems.efs.access_point_create(
            username=username, team=team.name, uid=user.uid_number, gid=user.gid_number,
            look_first=False,
        )  # fmt: skip
        systems.iam.role_create(
            username=username, team=team.name, policy_arns=team.iam_policy_arns,
            access_point_arn=point.arn,
        )  # fmt: skip
        systems.jupyterhub.user_create(name=username)
        systems.jupyterhub.group_add_user(group=team_hub_group(team), name=username)
        onboard_times.append(time.perf_counter() - started)
    return onboard_times


def plain_offboard(people: list[str]) -> list[float]:
    from onboarding.systems import clients

    systems = clients()
    offboard_times = []
    for username in people:
        started = time.perf_counter()
        systems.jupyterhub.user_remove(name=username)
        systems.iam.role_delete(username=username)
        systems.efs.access_point_delete(username=username)
        user = systems.freeipa.user_find(username=username)
        systems.freeipa.group_remove_members(username=username, groups=list(user.groups))
        systems.freeipa.otp_tokens_delete(username=username)
        systems.freeipa.user_disable(username=username)
        systems.freeipa.user_preserve(username=username)
        offboard_times.append(time.perf_counter() - started)
    return offboard_times


def start_workers(
    env: dict[str, str], args: argparse.Namespace, log_dir: Path, shape: tuple[int, int]
) -> list:
    count, concurrency = shape
    workers = []
    for index in range(count):
        log = (log_dir / f"worker-{index}.log").open("w")
        workers.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
                [sys.executable, "-m", "celery", "-A", "accessadmin", "worker", "--purge",
                 f"--pool={args.pool}", f"--concurrency={concurrency}",
                 "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                 f"--hostname=bench{index}@%h"],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )  # fmt: skip
    from accessadmin.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1) or []
        if len(replies) >= count:
            return workers
    raise TimeoutError("workers did not answer")


def resident_megabytes(pid: int) -> float:
    """The worker's own RSS plus its pool children's."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


STACK_PROCESSES = {
    "389-ds": "directory/run/dirsrv/slapd-sandbox.pid",
    "FreeIPA stand-in": "freeipa/server.pid",
    "moto": "aws/moto.pid",
    "JupyterHub": "jupyterhub/jupyterhub.pid",
    "proxy": "jupyterhub/jupyterhub-proxy.pid",
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its pool children so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def cpu_snapshot(stack_dir: Path, workers: list) -> dict[str, float]:
    snapshot = {}
    for name, pid_file in STACK_PROCESSES.items():
        path = stack_dir / pid_file
        if path.exists():
            snapshot[name] = cpu_seconds(int(path.read_text().split()[0]))
    snapshot["AccessAdmin workers"] = sum(cpu_seconds(worker.pid) for worker in workers)
    return snapshot


def wait_all(run_ids: list[int], timeout: float) -> None:
    from onboarding.models import LifecycleRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not LifecycleRun.objects.filter(
            pk__in=run_ids, state__in=LifecycleRun.ACTIVE_STATES
        ).exists():
            return
        time.sleep(0.2)
    raise TimeoutError("runs did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--single", type=int, default=10, help="one-at-a-time onboardings")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="tasks at once per worker")
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"])
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--stack-dir", help="use this running sandbox stack")
    parser.add_argument("--keep", action="store_true", help="keep the database and the stack")
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database for Celery")
    parser.add_argument(
        "--latency", nargs="?", const=DEFAULT_LATENCY, metavar="SYSTEM=MSms,...",
        help=f"compare --shapes against the plain script with this latency added by a proxy\n"
             f"in front of each stand-in, then without (alone: {DEFAULT_LATENCY})",
    )  # fmt: skip
    parser.add_argument(
        "--shapes", default=DEFAULT_SHAPES, help="workers x threads compared under --latency"
    )
    parser.add_argument(
        "--throttle", nargs="?", const=DEFAULT_THROTTLE, metavar="SERVICE=RATE,...",
        help="during the batch of onboardings the AWS stand-in refuses writes over RATE a\n"
             f"second per service, as AWS throttles (alone: {DEFAULT_THROTTLE})",
    )  # fmt: skip
    args = parser.parse_args()

    env = prepare_environment(args)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from onboarding.services import team_set

    tag = uuid.uuid4().hex[:5]
    team, _ = team_set(
        name=f"bench-{tag}", group=f"bench-{tag}", actor="bench",
        system_settings={"jupyterhub": {"group": f"bench-{tag}"}},
        policy_arns=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
    )  # fmt: skip

    try:
        if args.latency:
            shapes_report(args, env, team, tag)
        else:
            detailed_report(args, env, team, tag)
    finally:
        cleanup(args, env)


def onboard(username: str, team):
    from onboarding.services import person_onboard

    return person_onboard(
        username=username, first_name="Bench", last_name="Mark",
        email=f"{username}@example.test", team=team, actor="bench",
    )  # fmt: skip


def detailed_report(args: argparse.Namespace, env: dict[str, str], team, tag: str) -> None:
    from onboarding.models import AuditEvent, LifecycleRun, Person
    from onboarding.services import person_offboard

    print(f"AccessAdmin lifecycle benchmark: {args.people} people, {args.workers} workers "
          f"x {args.concurrency} ({args.pool}), {os.cpu_count()} CPUs")  # fmt: skip
    plain_people = [f"p{tag}{i:04d}" for i in range(args.people)]
    started = time.perf_counter()
    plain_on = plain_onboard(plain_people, team)
    plain_on_total = sum(plain_on)
    plain_off = plain_offboard(plain_people)
    plain_total = time.perf_counter() - started

    log_dir = Path(tempfile.mkdtemp(prefix="accessadmin-bench-logs-"))
    workers = start_workers(env, args, log_dir, (args.workers, args.concurrency))
    try:
        # Warm every worker thread's sessions first, as in a worker that has been up a while.
        warm_up = [
            onboard(f"w{tag}{i:04d}", team).pk for i in range(args.workers * args.concurrency)
        ]
        wait_all(warm_up, 300)

        single, single_execution = [], []
        for i in range(args.single):
            run = onboard(f"s{tag}{i:04d}", team)
            wait_all([run.pk], 120)
            run.refresh_from_db()
            single.append((run.finished_at - run.created_at).total_seconds())
            single_execution.append((run.finished_at - run.started_at).total_seconds())

        people = [f"a{tag}{i:04d}" for i in range(args.people)]
        stack_dir = Path(env["BENCH_STACK_DIR"])
        if args.throttle:
            aws_throttle(env, args.throttle)
        cpu_before = cpu_snapshot(stack_dir, workers)
        began = time.perf_counter()
        runs = [onboard(username, team).pk for username in people]
        wait_all(runs, 3600)
        onboard_total = time.perf_counter() - began
        cpu_after = cpu_snapshot(stack_dir, workers)
        refused = aws_throttle(env, "") if args.throttle else {}
        rss = [resident_megabytes(worker.pid) for worker in workers]

        began = time.perf_counter()
        offboards = [
            person_offboard(
                person=Person.objects.get(username=username), reason="benchmark", actor="bench"
            ).pk
            for username in people
        ]
        wait_all(offboards, 1800)
        offboard_total = time.perf_counter() - began
        rss_after = [resident_megabytes(worker.pid) for worker in workers]
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)

    finished = LifecycleRun.objects.filter(pk__in=runs + offboards)
    failures = finished.exclude(state=LifecycleRun.State.SUCCEEDED).count()
    per_run = [
        (run.finished_at - run.started_at).total_seconds()
        for run in finished.filter(pk__in=runs, state=LifecycleRun.State.SUCCEEDED)
    ]
    trips = [
        event.details.get("round_trips", {})
        for event in AuditEvent.objects.filter(
            action="onboard.run", outcome="succeeded", run_id__in=runs
        )
    ]

    print()
    print(summary("plain script, onboarding one person", plain_on))
    print(summary("plain script, offboarding one person", plain_off))
    print(summary("AccessAdmin, one at a time, request to done", single))
    print(summary("AccessAdmin, one at a time, on the worker", single_execution))
    print(summary("AccessAdmin, run time within the batch", per_run))
    ratio = percentile(single, 0.5) / percentile(plain_on, 0.5)
    print(f"one onboarding vs the plain script (p50): {ratio:.2f}x   (target <= 1.2x)")
    print()
    print(
        f"plain script: {args.people} onboardings in {plain_on_total:6.1f} s "
        f"({args.people / plain_on_total:5.1f}/s); with offboardings {plain_total:6.1f} s"
    )
    print(
        f"AccessAdmin:  {args.people} onboardings in {onboard_total:6.1f} s "
        f"({args.people / onboard_total:5.1f}/s), {args.people} offboardings in "
        f"{offboard_total:6.1f} s ({args.people / offboard_total:5.1f}/s)"
    )
    print(
        f"speed-up over the plain script (onboarding): {plain_on_total / onboard_total:.2f}x "
        "(target >= 2x)"
    )
    print(f"failed runs: {failures}")
    if args.throttle:
        retried = AuditEvent.objects.filter(run_id__in=runs, action="step.do", outcome="retried")
        waits = retried.count()
        waited = retried.values("run_id").distinct().count()
        print(
            f"throttled ({args.throttle}): the stand-in refused {refused}; the onboardings "
            f"waited {waits} times ({waited} of {len(runs)} runs waited at least once)"
        )
    print()
    for system in ("freeipa", "efs", "iam", "jupyterhub"):
        counts = [t.get(system, 0) for t in trips]
        if counts:
            median = statistics.median(counts)
            print(
                f"round trips per onboarding, {system:<10}: median {median:.0f}, max {max(counts)}"
            )
    print(
        f"worker RSS (main + pool) after onboarding: {', '.join(f'{m:.0f} MB' for m in rss)}; "
        f"after offboarding: {', '.join(f'{m:.0f} MB' for m in rss_after)} (target < 200 MB)"
    )
    cpu = {name: (cpu_after[name] - cpu_before.get(name, 0)) / args.people for name in cpu_after}
    heaviest_first = sorted(cpu.items(), key=lambda item: -item[1])
    shares = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in heaviest_first)
    print(f"CPU time per onboarding in the batch: {shares}")
    print(f"worker logs in {log_dir}")


def aws_throttle(env: dict[str, str], spec: str) -> dict[str, int]:
    """Set the AWS stand-in's write rates (`iam=2,elasticfilesystem=5`; empty: off); returns
    how many writes it refused per service under the rates set before."""
    import json
    import urllib.request

    rates = {}
    for part in filter(None, spec.split(",")):
        service, _, rate = part.partition("=")
        rates[service.strip()] = float(rate)
    url = env["AWS_ENDPOINT_URL"] + "/sandbox-api/throttle"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the local stand-in
        refused = json.loads(answer.read())["refused"]
    request = urllib.request.Request(  # noqa: S310 - the local stand-in
        url, data=json.dumps(rates).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the local stand-in
        answer.read()
    return refused


def batch_seconds(
    args: argparse.Namespace, env: dict[str, str], team, people: list[str], shape: tuple[int, int]
) -> tuple[float, int, float]:
    """Onboard people through fresh workers of this shape: seconds, failed runs, worker CPU
    seconds per onboarding."""
    from onboarding.models import LifecycleRun

    log_dir = Path(tempfile.mkdtemp(prefix=f"accessadmin-bench-logs-{shape[0]}x{shape[1]}-"))
    workers = start_workers(env, args, log_dir, shape)
    try:
        warm_up = [
            onboard(f"{name}w{i}", team).pk for i, name in enumerate(people[: shape[0] * shape[1]])
        ]
        wait_all(warm_up, 600)
        cpu_before = sum(cpu_seconds(worker.pid) for worker in workers)
        began = time.perf_counter()
        runs = [onboard(username, team).pk for username in people]
        wait_all(runs, 3600)
        seconds = time.perf_counter() - began
        cpu = sum(cpu_seconds(worker.pid) for worker in workers) - cpu_before
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    runs_done = LifecycleRun.objects.filter(pk__in=runs)
    failures = runs_done.exclude(state=LifecycleRun.State.SUCCEEDED).count()
    return seconds, failures, cpu / len(people)


def shapes_report(args: argparse.Namespace, env: dict[str, str], team, tag: str) -> None:
    """Throughput of each workers x threads shape against the plain script, with the latency
    and without."""
    from django.test import override_settings

    from onboarding.systems import systems_reset
    from sandbox import latency

    shapes = [tuple(int(n) for n in each.split("x")) for each in args.shapes.split(",")]
    print(f"AccessAdmin throughput by workers x threads ({args.pool}): {args.people} onboardings "
          f"each, {os.cpu_count()} CPUs")  # fmt: skip
    proxy, through = latency.start_proxies(env, latency.parse_latencies(args.latency))
    try:
        for setting, overrides in ((f"latency {args.latency}", through), ("no latency", {})):
            label = setting[0]
            systems_reset()
            with override_settings(**overrides):
                plain = sum(
                    plain_onboard([f"p{label}{tag}{i:04d}" for i in range(args.people)], team)
                )
            systems_reset()
            print(f"\n{setting}")
            print(f"  plain script  {plain:7.1f} s  {args.people / plain:6.1f}/s")
            for shape in shapes:
                people = [f"a{label}{tag}{shape[0]}{shape[1]}{i:04d}" for i in range(args.people)]
                seconds, failures, cpu = batch_seconds(
                    args, {**env, **overrides}, team, people, shape
                )
                print(
                    f"  {shape[0]} x {shape[1]:<2}        {seconds:7.1f} s  "
                    f"{args.people / seconds:6.1f}/s  {plain / seconds:5.2f}x the plain script  "
                    f"worker CPU {cpu * 1000:.0f} ms/onboarding  failed {failures}"
                )
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


def cleanup(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Drop the benchmark's database and stop the stack it started (with --keep, leave both)."""
    if args.keep:
        print(f"kept: database {env['BENCH_DATABASE']}, stack {env['BENCH_STACK_DIR']}")
        return
    import psycopg
    from django.db import connections

    from sandbox import stack as sandbox_stack

    connections.close_all()
    with psycopg.connect(args.postgres + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{env["BENCH_DATABASE"]}" WITH (FORCE)')
    if not args.stack_dir:
        sandbox_stack.down(Path(env["BENCH_STACK_DIR"]))


if __name__ == "__main__":
    main()
