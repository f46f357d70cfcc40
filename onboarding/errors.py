"""The application's own errors: views and commands turn them into a clear message."""


class AccessAdminError(Exception):
    """Something a person asked for cannot be done; the message says why and what to do."""


class IllegalTransition(AccessAdminError):
    def __init__(self, thing: str, current: str, wanted: str) -> None:
        super().__init__(f"{thing} cannot go from '{current}' to '{wanted}'.")
        self.current = current
        self.wanted = wanted


class AuditIsAppendOnly(AccessAdminError):
    def __init__(self) -> None:
        super().__init__("Audit events are append-only: they cannot be changed or deleted.")
