"""AWS throttles: IAM answers `Throttling` ("Rate exceeded") to writes above its per-account
rate, EFS `ThrottlingException` (429). moto never does, so code that must cope with it would
go untested. This puts a token bucket in front of moto's server, per service, for the requests
that can change something (reads are not limited, as AWS's read quotas are far higher here).

Off until asked: `POST /sandbox-api/throttle` with `{"iam": 2, "elasticfilesystem": 5}` (writes
per second; 0 or a missing service: no limit) turns it on, `{}` off; `GET` says what is set.
The error bodies follow botocore's protocols: IAM's query protocol (an XML ErrorResponse, HTTP
400, botocore/data/iam/2010-05-08/service-2.json "protocol": "query") and EFS's rest-json (the
error type in the x-amzn-ErrorType header and the body, HTTP 429).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

CONTROL_PATH = "/sandbox-api/throttle"
# SigV4's credential scope names the service: Credential=KEY/DATE/REGION/SERVICE/aws4_request.
_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([a-z0-9-]+)/aws4_request")


class Bucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class ThrottledApp:
    """Wraps moto's WSGI app: the control endpoint, and writes over a service's rate refused."""

    def __init__(self, app: Callable[..., Iterable[bytes]], reads_only: Callable[..., bool]):
        self._app = app
        self._reads_only = reads_only
        self._lock = threading.Lock()
        self._buckets: dict[str, Bucket] = {}
        self.refused: dict[str, int] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if environ.get("PATH_INFO") == CONTROL_PATH:
            return self._control(environ, start_response)
        service = service_of(environ)
        if service in self._buckets and not self._reads_only(environ):
            with self._lock:
                allowed = self._buckets[service].take()
                if not allowed:
                    self.refused[service] = self.refused.get(service, 0) + 1
            if not allowed:
                return _throttled(service, start_response)
        return self._app(environ, start_response)

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            wanted = json.loads(environ["wsgi.input"].read(length) or b"{}")
            with self._lock:
                self._buckets = {
                    service: Bucket(float(rate)) for service, rate in wanted.items() if rate
                }
                self.refused = {}
        with self._lock:
            body = {
                "rates": {service: bucket.rate for service, bucket in self._buckets.items()},
                "refused": dict(self.refused),
            }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


def service_of(environ: dict[str, Any]) -> str:
    """The AWS service a signed request is for, as its SigV4 scope names it ("" if unsigned)."""
    found = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else ""


def _throttled(service: str, start_response: Callable[..., Any]) -> list[bytes]:
    request_id = str(uuid.uuid4())
    if service == "iam":
        body = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
            "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        start_response(
            "400 Bad Request",
            [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
        )
        return [body]
    body = json.dumps({"ErrorCode": "ThrottlingException", "Message": "Rate exceeded"}).encode()
    start_response(
        "429 Too Many Requests",
        [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", "ThrottlingException"),
            ("x-amzn-RequestId", request_id),
        ],
    )
    return [body]
