"""Every error AccessAdmin raises on purpose, under one root.

Views show an `AccessAdminError`'s message as it is; `manage.py` commands print it and exit with
its `exit_code`: 1 a run failed or a system refused, 2 bad input (nothing was changed), 3 a run is
already in progress for that person, 4 too many requests for now (nothing was changed).
"""

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BUSY = 3
EXIT_LIMITED = 4


class AccessAdminError(Exception):
    """Something a person asked for cannot be done; the message says why and what to do."""

    exit_code = EXIT_FAILED


class InvalidInput(AccessAdminError):
    """The request itself is wrong; nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class PersonAlreadyKnown(InvalidInput):
    def __init__(self, username: str, status: str) -> None:
        super().__init__(f"{username!r} is already known to AccessAdmin ({status}).")
        self.username = username


class FileRefused(InvalidInput):
    """A bulk file has bad rows; nothing was created. `problems` lists each, with its row."""

    def __init__(self, problems: list[str]) -> None:
        listed = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"The file was refused; nothing was created:\n{listed}")
        self.problems = problems


class RunInProgress(AccessAdminError):
    """Another run holds the person (or the run changed under us); nothing was changed."""

    exit_code = EXIT_BUSY


class TooManyRequests(AccessAdminError):
    """The actor asked for more runs than LIFECYCLE_REQUESTS_PER_HOUR allows; nothing changed.
    `retry_after` is how many seconds until the next request would be allowed."""

    exit_code = EXIT_LIMITED

    def __init__(self, message: str, *, retry_after: int = 3600) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RunFailed(AccessAdminError):
    """A run (or its rollback) stopped on an error and waits for a person."""


class IllegalTransition(AccessAdminError):
    def __init__(self, thing: str, current: str, wanted: str) -> None:
        super().__init__(f"{thing} cannot go from '{current}' to '{wanted}'.")
        self.current = current
        self.wanted = wanted


class AuditIsAppendOnly(AccessAdminError):
    def __init__(self) -> None:
        super().__init__("Audit events are append-only: they cannot be changed or deleted.")


class CredentialsGone(AccessAdminError):
    """The one-time credentials were revealed already, or expired unrevealed."""


class DirectoryUnavailable(Exception):
    """The directory could not be asked about a staff account's rights; whoever asked is told
    so, and nothing is decided on a guess."""


# What the API answers, whatever the endpoint ---------------------------------------------------


class TokenRefused(AccessAdminError):
    """No token, or one that is unknown, expired or revoked: the request is not authenticated."""


class IdempotencyKeyReused(InvalidInput):
    """The key came back with another request: the client must use a new key."""


class NotVisible(AccessAdminError):
    """Not there, or not the token's to see: the two are answered alike."""


class Forbidden(AccessAdminError):
    """The token sees the thing but its role may not do this."""


# What the downstream systems raise, whatever their client library raised -------------------


class DownstreamError(AccessAdminError):
    """A downstream system refused or failed a call. ``transient`` says whether a retry may help."""

    transient = False

    def __init__(self, system: str, message: str) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.message = message


class TransientError(DownstreamError):
    """Worth retrying later: timeouts, throttling, the server being briefly unavailable."""

    transient = True


class Throttled(TransientError):
    """The system asked us to slow down (AWS's Throttling, HTTP 429): it answers, and will do
    what is asked once the rate allows. A wait, never a reason for a run to give up."""


class PermanentError(DownstreamError):
    """Retrying will not help: a person must fix the input, the permissions or the system."""


class NotFound(PermanentError):
    """The thing asked for does not exist."""


class AlreadyExists(PermanentError):
    """Creating the thing failed because one with that name exists."""


class PasswordRefused(PermanentError):
    """A system refused a person's own password change: `policy` is its password policy's
    reason, or "" when it refused the old password (it could not log in as the person)."""

    def __init__(self, system: str, *, policy: str) -> None:
        reason = policy or "the old password (and code) did not log in"
        super().__init__(system, f"change_password: {reason}")
        self.policy = policy


# How the runner tells a task what became of a run ------------------------------------------


class StepDeferred(Exception):
    """A step hit a transient error; the run went back to the queue, due again in `delay` s."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class RunStopped(Exception):
    """A step hit a permanent error; the run is failed and waits for a person."""


class RunLost(Exception):
    """Another worker took the run over (this one was presumed dead): stop touching it."""


class WebhookDeferred(Exception):
    """A webhook's receiver could not be reached or asked to wait (5xx, 429): the delivery is
    tried again, after `delay` s when the receiver said how long (Retry-After)."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay
