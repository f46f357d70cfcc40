"""Error tracking is off until SENTRY_DSN is set; when on, errors reach the server and no secret
rides along. The Sentry server is a small HTTP listener on 127.0.0.1 that keeps what it gets."""

import gzip
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import REPO_ROOT

PLANTED = "Plant3d-Temporary-Passw0rd"

FAILING_STEP = f"""
import django, sentry_sdk
django.setup()
print("initialised" if sentry_sdk.is_initialized() else "off")

def freeipa_password_set(username):
    temporary_password = "{PLANTED}"
    raise RuntimeError("freeipa: passwd " + username + ": refused")

try:
    freeipa_password_set("ada")
except RuntimeError:
    sentry_sdk.capture_exception()
sentry_sdk.flush(10)
"""


class Received(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        assert encoding in {"", "gzip", "deflate"}, f"cannot read {encoding}"
        Received.bodies.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def sentry_server() -> Iterator[str]:
    Received.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Received)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42"
    finally:
        server.shutdown()


def run_failing_step(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", FAILING_STEP], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def base_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    return {**env, "DJANGO_SETTINGS_MODULE": "accessadmin.settings"}


def test_errors_reach_the_tracker_without_the_secrets_in_scope(sentry_server):
    env = {**base_env(), "SENTRY_DSN": sentry_server, "SENTRY_ENVIRONMENT": "staging"}
    assert run_failing_step(env) == "initialised"
    sent = b"".join(Received.bodies)
    assert b"RuntimeError" in sent and b"freeipa: passwd ada: refused" in sent
    assert b'"environment":"staging"' in sent
    assert PLANTED.encode() not in sent


def test_no_dsn_no_tracking(sentry_server):
    assert run_failing_step(base_env()) == "off"
    assert Received.bodies == []
