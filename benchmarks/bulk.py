"""Time the check of a bulk onboarding file of 1 and of N rows (500 by default) on the local stack.

    .venv/bin/python benchmarks/bulk.py --rows 500 [--stack-dir DIR]

Needs PostgreSQL on 127.0.0.1; starts the local stack in a temporary folder unless --stack-dir
names a running one. Nothing is onboarded: the file is checked as `onboard_csv --dry-run` and
the web preview check it, every row against every enabled system. It prints figures and asserts
nothing:

- the service's check (`people_onboard_csv_check`) of 1 and N rows: seconds and round trips per
  system, repeated a few times (the best is printed);
- `manage.py people_onboard_csv FILE --dry-run` of 1 and N rows, as a process (start-up included);
- the web preview (`/onboard/csv/`, as an admin) of 1 and N rows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.lifecycle import cleanup, prepare_environment  # noqa: E402

HEADER = "username,first_name,last_name,email,team\n"


def csv_text(rows: int, team: str, tag: str) -> str:
    return HEADER + "".join(
        f"b{tag}{n:05d},Bench,Mark,b{tag}{n:05d}@example.test,{team}\n" for n in range(rows)
    )


def best_of(times: int, work) -> tuple[float, dict[str, int]]:
    from onboarding.systems import round_trips

    best, trips = float("inf"), {}
    for _ in range(times):
        before = round_trips()
        began = time.perf_counter()
        work()
        seconds = time.perf_counter() - began
        if seconds < best:
            after = round_trips()
            best = seconds
            trips = {name: after[name] - before.get(name, 0) for name in after}
    return best, trips


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--stack-dir", help="use this running sandbox stack")
    parser.add_argument("--keep", action="store_true", help="keep the database and the stack")
    args = parser.parse_args()

    env = prepare_environment(args)
    env["BULK_MAX_ROWS"] = str(max(args.rows, 500))
    os.environ["BULK_MAX_ROWS"] = env["BULK_MAX_ROWS"]
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from onboarding.services import people_onboard_csv_check, team_set

    call_command("migrate", verbosity=0)
    try:
        tag = uuid.uuid4().hex[:5]
        team, _ = team_set(
            name=f"bulk-{tag}", group=f"bulk-{tag}", policy_arns=[], actor="bench",
            system_settings={"jupyterhub": {"group": f"bulk-{tag}"}},
        )  # fmt: skip
        print(f"Bulk benchmark: 1 and {args.rows} rows, {os.cpu_count()} CPUs")
        files = {count: csv_text(count, team.name, tag) for count in (1, args.rows)}

        for count, text in files.items():
            seconds, trips = best_of(
                args.repeat, lambda text=text: people_onboard_csv_check(text=text)
            )
            words = ", ".join(f"{name} {n}" for name, n in sorted(trips.items()))
            print(f"  check {count:5d} rows  {seconds:6.2f} s  round trips: {words}")

        folder = Path(tempfile.mkdtemp(prefix="accessadmin-bulk-"))
        for count, text in files.items():
            path = folder / f"rows-{count}.csv"
            path.write_text(text)
            began = time.perf_counter()
            done = subprocess.run(  # noqa: S603 - this interpreter, our manage.py
                [sys.executable, "manage.py", "people_onboard_csv", str(path), "--dry-run"],
                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            seconds = time.perf_counter() - began
            print(
                f"  onboard_csv --dry-run {count:5d} rows  {seconds:6.2f} s  exit {done.returncode}"
            )

        admin = get_user_model().objects.create_superuser(f"bench-{tag}", password=uuid.uuid4().hex)
        client = Client(HTTP_HOST="localhost")
        client.force_login(admin, "django.contrib.auth.backends.ModelBackend")
        from django.core.files.uploadedfile import SimpleUploadedFile

        for count, text in files.items():
            began = time.perf_counter()
            page = client.post(
                "/onboard/csv/",
                {"file": SimpleUploadedFile("people.csv", text.encode()), "action": "preview"},
            )
            seconds = time.perf_counter() - began
            print(f"  web preview {count:5d} rows  {seconds:6.2f} s  HTTP {page.status_code}")
    finally:
        cleanup(args, env)


if __name__ == "__main__":
    main()
