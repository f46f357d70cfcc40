"""Login sessions, kept in memory: a session is only a cookie naming a principal."""

from __future__ import annotations

import secrets
import threading
import time
import urllib.parse

COOKIE_NAME = "ipa_session"
LIFETIME_SECONDS = 20 * 60


class Sessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: dict[str, tuple[str, float]] = {}

    def open(self, uid: str) -> str:
        """Start a session for uid and return the cookie value (MagBearerToken=...)."""
        token = urllib.parse.quote(secrets.token_urlsafe(96), safe="")
        with self._lock:
            self._by_token[token] = (uid, time.monotonic() + LIFETIME_SECONDS)
        return f"MagBearerToken={token}"

    def lookup(self, cookie_header: str | None) -> tuple[str, str] | None:
        """The (cookie value, uid) of a live session named in a Cookie header."""
        value = _cookie(cookie_header)
        if not value or not value.startswith("MagBearerToken="):
            return None
        token = value.split("=", 1)[1]
        with self._lock:
            found = self._by_token.get(token)
            if found is None or found[1] < time.monotonic():
                self._by_token.pop(token, None)
                return None
            self._by_token[token] = (found[0], time.monotonic() + LIFETIME_SECONDS)
        return value, found[0]


def _cookie(header: str | None) -> str | None:
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE_NAME:
            return value
    return None


def set_cookie(value: str) -> str:
    return f"{COOKIE_NAME}={value};path=/ipa;httponly;secure;"


def clear_cookie() -> str:
    return f"{COOKIE_NAME}=;Max-Age=0;path=/ipa;httponly;secure;"
