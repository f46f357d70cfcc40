"""The errors every connector raises, whatever its client library raised."""


class IntegrationError(Exception):
    """A downstream system refused or failed a call. ``transient`` says whether a retry may help."""

    transient = False

    def __init__(self, system: str, message: str) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.message = message


class TransientError(IntegrationError):
    """Worth retrying later: timeouts, throttling, the server being briefly unavailable."""

    transient = True


class PermanentError(IntegrationError):
    """Retrying will not help: a person must fix the input, the permissions or the system."""


class NotFound(PermanentError):
    """The thing asked for does not exist."""


class AlreadyExists(PermanentError):
    """Creating the thing failed because one with that name exists."""
