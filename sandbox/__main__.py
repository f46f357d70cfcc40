"""python -m sandbox up|down|status --state-dir DIR [--services a,b]"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from sandbox import stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("up", "start the services (reusing running ones) and write DIR/endpoints.env"),
        ("down", "stop every service started in DIR"),
        ("status", "show which started services answer"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--state-dir", type=Path, required=True, metavar="DIR")
        if name == "up":
            command.add_argument(
                "--services",
                default="",
                help=f"comma-separated subset of {','.join(stack.SERVICES)} (default: all)",
            )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.command == "up":
        try:
            services = stack.parse_services(args.services)
        except ValueError as error:
            parser.error(str(error))
        return _up(args.state_dir, services)
    if args.command == "down":
        return _down(args.state_dir)
    return _status(args.state_dir)


def _up(state_dir: Path, services: tuple[str, ...]) -> int:
    began = time.monotonic()
    try:
        _, starts = stack.up(state_dir, services)
    except stack.StackError as error:
        print(f"sandbox up failed in {error.service}:\n{error.reason}", file=sys.stderr)
        print(
            f"(services already started stay up: python -m sandbox down --state-dir {state_dir})",
            file=sys.stderr,
        )
        return 1
    for start in starts:
        print(f"{start.name:<11} {start.address or '-':<40} {start.seconds:6.1f} s")
    print(f"{'total':<11} {'':<40} {time.monotonic() - began:6.1f} s")
    print(f"endpoints: {state_dir.resolve() / stack.ENDPOINTS_FILE}")
    return 0


def _down(state_dir: Path) -> int:
    try:
        stack.down(state_dir)
    except stack.StackError as error:
        print(f"sandbox down incomplete: {error}", file=sys.stderr)
        return 1
    return 0


def _status(state_dir: Path) -> int:
    try:
        services = stack.status(state_dir)
    except stack.StackError as error:
        print(f"sandbox status failed: {error}", file=sys.stderr)
        return 1
    if not services:
        print(f"nothing started in {state_dir}")
        return 1
    for service in services:
        state = "up" if service.up else "DOWN"
        line = f"{service.name:<11} {state:<5} {service.address or '-':<40} {_why_down(service)}"
        print(line.rstrip())
    return 0 if all(service.up for service in services) else 1


def _why_down(service: stack.ServiceStatus) -> str:
    if service.up:
        return ""
    if not service.running and service.answering:
        return "its process is gone; something else answers on its port"
    if not service.running:
        return "its process is gone (python -m sandbox up restarts it on the same port)"
    return "its process runs but does not answer"


if __name__ == "__main__":
    sys.exit(main())
