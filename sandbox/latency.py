"""A TCP proxy that adds network latency in front of a stand-in, as a remote system would have.

    python -m sandbox.latency --route 127.0.0.1:40500=80 --tls-route localhost:40443=60 \\
        --tls-files DIR/freeipa

Each route listens on a free port of 127.0.0.1 and forwards to its target; every chunk a
client sends reaches the target the given milliseconds later (order kept, chunks in flight
overlap), and answers come back at once. One request therefore costs one delay, as one round
trip to a distant server would. Once every route listens, one JSON line on stdout maps each
target to the port in front of it.

The FreeIPA stand-in only answers requests whose Referer names its own host and port, as
FreeIPA does, and that header travels inside TLS. A `--tls-route` therefore ends TLS with the
stand-in's own certificate (`server.pem`, `server.key` in --tls-files), names the stand-in's
port where the client named the proxy's, and speaks TLS again to the stand-in (`ca.pem`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sandbox.process import LOOPBACK

_CHUNK = 65536
# Which endpoints.env entry reaches each system, and whether it is a URL or a bare host:port.
ENDPOINTS = {
    "freeipa": ("FREEIPA_HOST", False),
    "aws": ("AWS_ENDPOINT_URL", True),
    "jupyterhub": ("JUPYTERHUB_URL", True),
}


@dataclass
class Route:
    host: str
    port: int
    delay: float
    tls: bool = False
    listening_port: int = 0

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


async def _client_to_server(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: Route
) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    named_here = f"{route.host}:{route.listening_port}".encode()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if route.tls:
                # Same length (both ports are five digits here), so no Content-Length changes.
                data = data.replace(named_here, route.target.encode())
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()

    delivery = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(_CHUNK)
            queue.put_nowait((time.monotonic() + route.delay, data))
            if not data:
                break
        await delivery
    finally:
        delivery.cancel()


async def _server_to_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


def _handler(route: Route, upstream_tls: ssl.SSLContext | None):
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter):
        try:
            server_reader, server_writer = await asyncio.open_connection(
                route.host, route.port, ssl=upstream_tls
            )
        except OSError:
            client_writer.close()
            return
        directions = {
            asyncio.ensure_future(_client_to_server(client_reader, server_writer, route)),
            asyncio.ensure_future(_server_to_client(server_reader, client_writer)),
        }
        try:
            # Servers keep idle connections open: once either side is done, so is the other.
            await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for direction in directions:
                direction.cancel()
            await asyncio.gather(*directions, return_exceptions=True)
            for writer in (server_writer, client_writer):
                writer.close()

    return handle


def parse_route(text: str) -> Route:
    """`HOST:PORT=MILLISECONDS`; only loopback targets."""
    target, _, milliseconds = text.rpartition("=")
    host, _, port = target.rpartition(":")
    if host not in (LOOPBACK, "localhost"):
        raise argparse.ArgumentTypeError(f"{text}: only {LOOPBACK} can be proxied")
    return Route(host, int(port), float(milliseconds) / 1000)


def parse_latencies(text: str) -> dict[str, float]:
    """`freeipa=60ms,aws=80ms` as {system: seconds}."""
    latencies = {}
    for part in filter(None, (each.strip() for each in text.split(","))):
        name, _, value = part.partition("=")
        if name not in ENDPOINTS or not value.endswith("ms"):
            raise ValueError(
                f"{part!r}: expected SYSTEM=MILLISECONDSms, SYSTEM one of {list(ENDPOINTS)}"
            )
        latencies[name] = float(value.removesuffix("ms")) / 1000
    return latencies


def start_proxies(
    endpoints: dict[str, str], latencies: dict[str, float]
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start one proxy process for the given systems; returns it and the endpoints through it."""
    arguments, targets = [], {}
    for name, seconds in latencies.items():
        key, is_url = ENDPOINTS[name]
        address = urlsplit(endpoints[key]).netloc if is_url else endpoints[key]
        targets[name] = address
        kind = "--route" if is_url else "--tls-route"
        arguments += [kind, f"{address}={seconds * 1000:g}"]
    if "freeipa" in latencies:
        arguments += ["--tls-files", str(Path(endpoints["FREEIPA_CA_FILE"]).parent)]
    proxy = subprocess.Popen(
        [sys.executable, "-m", "sandbox.latency", *arguments],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    ports = json.loads(proxy.stdout.readline())  # type: ignore[union-attr]
    through = {}
    for name, address in targets.items():
        key, is_url = ENDPOINTS[name]
        proxied = f"{address.rpartition(':')[0]}:{ports[address]}"
        through[key] = (
            urlunsplit(urlsplit(endpoints[key])._replace(netloc=proxied)) if is_url else proxied
        )
    return proxy, through


async def serve(routes: list[Route], tls_files: Path | None) -> None:
    ports = {}
    for route in routes:
        own_tls = upstream_tls = None
        if route.tls:
            if tls_files is None:
                raise SystemExit("--tls-route needs --tls-files")
            own_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            own_tls.load_cert_chain(tls_files / "server.pem", tls_files / "server.key")
            upstream_tls = ssl.create_default_context(cafile=tls_files / "ca.pem")
        server = await asyncio.start_server(_handler(route, upstream_tls), LOOPBACK, 0, ssl=own_tls)
        route.listening_port = server.sockets[0].getsockname()[1]
        ports[route.target] = route.listening_port
    sys.stdout.write(json.dumps(ports) + "\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--route", type=parse_route, action="append", default=[])
    parser.add_argument("--tls-route", type=parse_route, action="append", default=[])
    parser.add_argument("--tls-files", type=Path, help="a folder with server.pem/.key, ca.pem")
    args = parser.parse_args(argv)
    for route in args.tls_route:
        route.tls = True
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.route + args.tls_route, args.tls_files))


if __name__ == "__main__":
    main()
