"""`python -m sandbox.jupyterhub install-proxy --prefix DIR`: fetch the pinned proxy from npm."""

from __future__ import annotations

import argparse
from pathlib import Path

from sandbox.jupyterhub import DEFAULT_PROXY_PREFIX, install_proxy


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the one command this module has."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.jupyterhub")
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install-proxy", help="install configurable-http-proxy")
    install.add_argument("--prefix", type=Path, default=DEFAULT_PROXY_PREFIX)
    arguments = parser.parse_args(argv)
    if arguments.command == "install-proxy":
        print(install_proxy(arguments.prefix.resolve()))


if __name__ == "__main__":
    main()
