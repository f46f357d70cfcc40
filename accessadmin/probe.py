"""The web container's health check: `python -m accessadmin.probe [--port 8000]`.

GET /healthz over plain HTTP from inside the container, with the Host the app serves (its first
ALLOWED_HOSTS name) and nothing else: /healthz is exempt from the HTTPS redirect
(SECURE_REDIRECT_EXEMPT), and a redirect or any answer but 200 is a failure. Used by the image's
HEALTHCHECK and docker-compose.yml; it needs neither Django nor the database settings.
"""

from __future__ import annotations

import argparse
import http.client
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()
    names = [name.strip() for name in os.environ.get("ALLOWED_HOSTS", "").split(",")]
    host = next((name.lstrip("*.") for name in names if name.strip("*.")), "localhost")
    try:
        probe = http.client.HTTPConnection("127.0.0.1", args.port, timeout=args.timeout)
        probe.request("GET", "/healthz", headers={"Host": host})
        status = probe.getresponse().status
    except OSError as error:
        raise SystemExit(f"/healthz did not answer: {error}") from None
    if status != 200:
        raise SystemExit(f"/healthz answered {status}")


if __name__ == "__main__":
    main()
