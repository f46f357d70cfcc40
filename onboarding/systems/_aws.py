"""What the EFS and IAM connectors share: a boto3 client that counts its requests, and one
mapping from botocore's errors to the project's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore import exceptions as botocore_errors
from botocore.config import Config
from botocore.parsers import ResponseParserError

from onboarding.errors import (
    AlreadyExists,
    NotFound,
    PermanentError,
    Throttled,
    TransientError,
)

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "accessadmin"

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 20

# botocore's retryhandler.py lists these as throttling (a rate to keep to, not a fault).
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "ConcurrentModification",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchEntity", "AccessPointNotFound", "FileSystemNotFound"})
_EXISTS_CODES = frozenset({"EntityAlreadyExists", "AccessPointAlreadyExists"})


def client(
    service: str, *, region: str, endpoint_url: str | None, on_request: Callable[..., None]
) -> Any:
    """A boto3 client whose every HTTP attempt calls `on_request` before it is sent."""
    created = boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url or None,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            # Retries live in the Celery task; here one call is one request.
            retries={"total_max_attempts": 1},
        ),
    )
    created.meta.events.register("before-send", on_request)
    return created


@contextmanager
def translated_errors(system: str, *, missing_ok: bool = False) -> Iterator[None]:
    """Raise TransientError, PermanentError or NotFound instead of whatever botocore raised;
    with `missing_ok`, a NotFound is success (deleting what is already gone)."""
    try:
        yield
    except botocore_errors.ClientError as error:
        translated = _from_client_error(system, error)
        if missing_ok and isinstance(translated, NotFound):
            return
        raise translated from error
    except (botocore_errors.ConnectionError, botocore_errors.HTTPClientError) as error:
        raise TransientError(system, f"cannot reach the endpoint: {error}") from error
    except ResponseParserError as error:
        # An answer that is not AWS's, such as a proxy's or an overloaded server's HTML 500 page.
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise TransientError(system, f"unreadable answer: {first_line}") from error
    except botocore_errors.BotoCoreError as error:
        raise PermanentError(system, str(error)) from error


def _from_client_error(
    system: str, error: botocore_errors.ClientError
) -> PermanentError | TransientError:
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    message = f"{error.operation_name}: {code}: {details.get('Message', '')}"
    if code in _THROTTLING_CODES or status == 429:
        return Throttled(system, message)
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientError(system, message)
    if code in _NOT_FOUND_CODES:
        return NotFound(system, message)
    if code in _EXISTS_CODES:
        return AlreadyExists(system, message)
    return PermanentError(system, message)


def tags_of(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """AWS's [{"Key": k, "Value": v}] as a plain dict."""
    return {tag["Key"]: tag["Value"] for tag in tags or []}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]
