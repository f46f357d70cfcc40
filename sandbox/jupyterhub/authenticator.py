"""LDAP login against the sandbox directory, case-insensitive like FreeIPA's uids."""

from __future__ import annotations

from typing import Any

from ldapauthenticator import LDAPAuthenticator


class DirectoryAuthenticator(LDAPAuthenticator):
    """Lowercases the login name before binding, so `Alice` logs in as uid `alice`."""

    async def authenticate(self, handler: Any, data: dict[str, str]) -> Any:
        data = {**data, "username": data.get("username", "").strip().lower()}
        return await super().authenticate(handler, data)
