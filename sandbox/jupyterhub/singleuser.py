"""A stand-in single-user server: answers under its base URL, nothing else.

The hub only needs a process that answers HTTP below its prefix; a real notebook server would
cost seconds and hundreds of megabytes per user for nothing the tests look at.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import urlsplit


class _Handler(BaseHTTPRequestHandler):
    prefix = "/"
    identity: dict[str, str] = {}

    def do_GET(self) -> None:
        if not self.path.startswith(self.prefix):
            self._reply(404, {"error": "not under this server's prefix", "path": self.path})
            return
        self._reply(200, {**self.identity, "path": self.path, "pid": str(os.getpid())})

    def _reply(self, status: int, body: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        # The hub compares this with its own version and warns when it is missing.
        self.send_header("X-JupyterHub-Version", os.environ.get("SANDBOX_HUB_VERSION", ""))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"singleuser {self.address_string()} {format % args}\n")


def main() -> None:
    """Serve on the address the hub chose (JUPYTERHUB_SERVICE_URL) until told to stop."""
    service_url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    _Handler.prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", service_url.path or "/")
    _Handler.identity = {
        "user": os.environ.get("JUPYTERHUB_USER", ""),
        "server_name": os.environ.get("JUPYTERHUB_SERVER_NAME", ""),
    }
    server = ThreadingHTTPServer((service_url.hostname or "127.0.0.1", service_url.port), _Handler)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    # The spawner stops servers with SIGINT first, then SIGTERM: both end cleanly.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
