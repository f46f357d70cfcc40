"""Typed readers for settings that come from the environment.

Every reader fails with ``ImproperlyConfigured`` naming the variable, so a bad deployment stops at
start-up instead of misbehaving later.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Environment:
    """Reads settings from a mapping (``os.environ`` by default) and knows ``NAME_FILE`` secrets."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self.values = os.environ if values is None else values

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise ImproperlyConfigured(f"{name} must be set.")
            return default or ""
        return value

    def bool(self, name: str, default: bool) -> bool:
        raw = self.values.get(name)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        raw = self.values.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
        if minimum is not None and value < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
        return value

    def list(self, name: str, default: list[str] | None = None) -> list[str]:
        raw = self.values.get(name)
        if raw is None or raw.strip() == "":
            return list(default or [])
        return [item.strip() for item in raw.split(",") if item.strip()]

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.values.get(name) or default
        if value not in choices:
            allowed = ", ".join(choices)
            raise ImproperlyConfigured(f"{name} must be one of {allowed}, not {value!r}.")
        return value

    def secret(self, name: str, default: str = "", *, required: bool = False) -> str:
        """Read ``NAME`` or the file named by ``NAME_FILE`` (for Docker/Kubernetes secrets)."""
        path = self.values.get(f"{name}_FILE")
        if path:
            if self.values.get(name):
                raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
            try:
                return Path(path).read_text().strip()
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"{name}_FILE names {path!r}, which cannot be read: {exc.strerror}."
                ) from None
        return self.str(name, default, required=required)

    def url(self, name: str, default: str = "", *, schemes: tuple[str, ...]) -> str:
        value = self.str(name, default)
        if value and not value.startswith(tuple(f"{scheme}://" for scheme in schemes)):
            allowed = ", ".join(f"{scheme}://" for scheme in schemes)
            raise ImproperlyConfigured(f"{name} must start with {allowed}, not {value!r}.")
        return value


def redis_url_with_password(name: str, url: str, password: str) -> str:
    """``url`` with ``password`` put in (``redis://:password@host:port/db``); ``name`` is the
    setting ``url`` came from, named when it carries a password already."""
    parts = urlsplit(url)
    if parts.password is not None:
        raise ImproperlyConfigured(
            f"{name} carries a password and REDIS_PASSWORD(_FILE) is set: give it once."
        )
    host = parts.netloc.rpartition("@")[2]
    user = quote(parts.username or "", safe="")
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
