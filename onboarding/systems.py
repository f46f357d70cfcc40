"""The connectors a worker talks to, built once per process from settings and then reused.

Each connector is safe to share between threads: boto3 clients and requests sessions are, and
the FreeIPA connector keeps one logged-in session per thread.
"""

import threading
from functools import cached_property

from onboarding.integrations.efs import EFS
from onboarding.integrations.freeipa import FreeIPA
from onboarding.integrations.iam import IAM
from onboarding.integrations.jupyterhub import JupyterHub


class Systems:
    @cached_property
    def freeipa(self) -> FreeIPA:
        return FreeIPA.from_settings()

    @cached_property
    def efs(self) -> EFS:
        return EFS.from_settings()

    @cached_property
    def iam(self) -> IAM:
        return IAM.from_settings()

    @cached_property
    def jupyterhub(self) -> JupyterHub:
        return JupyterHub.from_settings()

    def round_trips(self) -> dict[str, int]:
        built = {name: self.__dict__.get(name) for name in ("freeipa", "efs", "iam", "jupyterhub")}
        return {name: conn.round_trips for name, conn in built.items() if conn is not None}


_shared: Systems | None = None
_shared_lock = threading.Lock()


def systems() -> Systems:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Systems()
        return _shared


def systems_reset() -> None:
    """Forget the connectors, e.g. after settings changed."""
    global _shared
    with _shared_lock:
        _shared = None
