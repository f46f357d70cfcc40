"""FreeIPA, through python-freeipa's JSON-RPC client.

One logged-in session per connector, reused for every call and renewed when FreeIPA answers 401.
Results come back as small typed values; FreeIPA's errors come back as ours. python-freeipa never
raises for a member that could not be added or removed, so the ``failed`` lists are checked here.
"""

import functools
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from python_freeipa import ClientMeta
from python_freeipa import exceptions as ipa_errors

from onboarding.errors import (
    AlreadyExists,
    DownstreamError,
    NotFound,
    PasswordRefused,
    PermanentError,
    TransientError,
)
from onboarding.systems._counting import RoundTrips, request_allowed

SYSTEM = "freeipa"
API_VERSION = "2.253"  # what python-freeipa's generated client speaks

# python-freeipa logs every call's parameters at DEBUG, passwords included.
logging.getLogger("python_freeipa").setLevel(logging.WARNING)

# FreeIPA's codes worth a retry (ipalib/errors.py): InternalError 903, NetworkError 907 (the
# server lost its directory), MidairCollision 4201 (a concurrent write), DatabaseTimeout 4211,
# TimeLimitExceeded 4214.
_TRANSIENT_CODES = {903, 907, 4201, 4211, 4214}
# DatabaseError 4203 is every LDAP error FreeIPA does not map (ipapython/ipaldap.py,
# LDAPClient.error_handler): a busy or unreachable directory is worth a retry; the rest, such as
# "Server is unwilling to perform" (the last-token plug-in, password policy), is a refusal.
_DATABASE_ERROR = 4203
_DATABASE_UNAVAILABLE = ("Server is busy", "Server is unavailable", "Can't contact LDAP server",
                         "Connect error", "Timed out")  # fmt: skip
# ipalib/errors.py NotFound.errno; a batch's failed call carries it as error_code.
NOT_FOUND_CODE = 4001
# Calls per batch request: one round trip for a bulk file's worth of look-ups, not one request
# so large that a proxy in front of FreeIPA refuses it.
BATCH_SIZE = 100
# ldap2.py:277-279 has_upg: the ACIError when the caller cannot read the UPG Definition.
UPG_UNREADABLE = "Could not read UPG Definition originfilter"
# A manager no user can be: FreeIPA logins hold no spaces (ipalib/constants.py:337-339).
_NO_SUCH_MANAGER = "AccessAdmin preflight"
_ALREADY_MEMBER = "This entry is already a member"
_NOT_MEMBER = "This entry is not a member"


@dataclass(frozen=True)
class IpaUser:
    username: str
    first_name: str
    last_name: str
    email: str
    uid_number: int
    gid_number: int
    disabled: bool
    preserved: bool
    auth_types: tuple[str, ...]
    groups: tuple[str, ...]

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> "IpaUser":
        return cls(
            username=_first(entry, "uid"),
            first_name=_first(entry, "givenname"),
            last_name=_first(entry, "sn"),
            email=_first(entry, "mail"),
            uid_number=int(_first(entry, "uidnumber", "0")),
            gid_number=int(_first(entry, "gidnumber", "0")),
            disabled=bool(entry.get("nsaccountlock", False)),
            preserved=bool(entry.get("preserved", False)),
            auth_types=tuple(entry.get("ipauserauthtype", ())),
            groups=tuple(entry.get("memberof_group", ())),
        )


@dataclass(frozen=True)
class IpaGroup:
    name: str
    gid_number: int | None
    members: tuple[str, ...]
    managers: tuple[str, ...]

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> "IpaGroup":
        gid = _first(entry, "gidnumber", "")
        return cls(
            name=_first(entry, "cn"),
            gid_number=int(gid) if gid else None,
            members=tuple(entry.get("member_user", ())),
            managers=tuple(entry.get("membermanager_user", ())),
        )


@dataclass(frozen=True)
class OtpToken:
    id: str
    owner: str
    description: str
    disabled: bool

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> "OtpToken":
        return cls(
            id=_first(entry, "ipatokenuniqueid"),
            owner=_first(entry, "ipatokenowner"),
            description=_first(entry, "description"),
            disabled=_first(entry, "ipatokendisabled", "FALSE") in (True, "TRUE"),
        )


def _tls_reason(error: Exception) -> str:
    text = str(error)
    for reason in ("certificate verify failed", "hostname mismatch", "wrong version number"):
        if reason in text:
            return reason
    return type(error).__name__


def _first(entry: dict[str, Any], key: str, default: str = "") -> Any:
    value = entry.get(key, default)
    if isinstance(value, list | tuple):
        return value[0] if value else default
    return value


class FreeIPA:
    def __init__(
        self, *, host: str, username: str, password: str, ca_file: str = "", timeout: float = 30
    ) -> None:
        # FreeIPA servers (replicas) in the order to try them, each by the name on its
        # certificate: FreeIPA refuses a Referer naming another host.
        self.hosts = [name.strip() for name in host.split(",") if name.strip()]
        self.host = self.hosts[0] if self.hosts else ""
        self.username = username
        self._password = password
        self._verify: str | bool = ca_file or True
        self._timeout = timeout
        # One logged-in session per thread: python-freeipa's client is not thread-safe.
        self._sessions = threading.local()
        self._trips = RoundTrips()

    @property
    def round_trips(self) -> int:
        """Requests this thread has sent through this connector."""
        return self._trips.count

    @classmethod
    def from_settings(cls) -> "FreeIPA":
        return cls(
            host=settings.FREEIPA_HOST,
            username=settings.FREEIPA_USERNAME,
            password=settings.FREEIPA_PASSWORD,
            ca_file=settings.FREEIPA_CA_FILE,
        )

    # The session ---------------------------------------------------------------------------

    def _count(self, response: requests.Response, *args, **kwargs) -> None:
        self._trips.add()

    def _login(self) -> ClientMeta:
        """A session with the first server that answers; the next is tried only when one cannot
        be reached (a refusal or a TLS failure would be the same on every replica)."""
        if not self.hosts:
            raise PermanentError(SYSTEM, "FREEIPA_HOST is not configured")
        unreachable = []
        for host in self.hosts:
            try:
                client = self._login_to(host)
            except TransientError as error:
                unreachable.append(f"{host}: {error.message.removeprefix('login: ')}")
                continue
            self.host = host
            return client
        raise TransientError(SYSTEM, f"login: {'; '.join(unreachable)}")

    def _login_to(self, host: str) -> ClientMeta:
        client = ClientMeta(host, verify_ssl=self._verify, dns_discovery=False)
        session = client._session
        # python-freeipa sets no timeout; a hung server must not hang a worker forever.
        session.request = functools.partial(session.request, timeout=self._timeout)
        session.hooks["response"].append(self._count)
        try:
            client.login(self.username, self._password)
        except ipa_errors.PasswordExpired:
            raise PermanentError(
                SYSTEM,
                f"the service account {self.username!r} has an expired password: set a new one "
                "(ipa passwd, then kinit to change it) and give the account a password policy "
                "that lasts (README: Connecting to a real FreeIPA)",
            ) from None
        except ipa_errors.Unauthorized as error:
            reason = type(error).__name__
            raise PermanentError(
                SYSTEM,
                f"FreeIPA refused the service account {self.username!r} ({reason}); "
                "check FREEIPA_USERNAME and FREEIPA_PASSWORD",
            ) from None
        except Exception as error:
            raise self._translate(error) from None
        return client

    def _call(self, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        for attempt in (1, 2):
            request_allowed()
            client = getattr(self._sessions, "client", None)
            if client is None:
                client = self._sessions.client = self._login()
            try:
                return getattr(client, method)(*args, **kwargs)
            except ipa_errors.Unauthorized as error:
                if getattr(error, "code", None) is not None:  # an ACI denial, not a 401
                    raise self._translate(error, method) from None
                # The session expired: log in again once.
                self._sessions.client = None
                if attempt == 2:
                    raise PermanentError(SYSTEM, f"{method}: not authorised") from None
            except Exception as error:
                raise self._translate(error, method) from None
        raise AssertionError("unreachable")

    def ping(self) -> str:
        return self._call("ping")["summary"]

    def whoami(self) -> IpaUser:
        """The logged-in account, as FreeIPA shows it to itself."""
        return IpaUser.from_entry(self._call("user_show", a_uid=self.username)["result"])

    def account_rights(self) -> tuple[dict[str, Any], set[str], set[str]]:
        """The logged-in account's own entry, and the privileges and permissions its roles give
        it (through role -> privilege -> permission, as FreeIPA links them)."""
        me = self._call("user_show", a_uid=self.username, o_all=True)["result"]
        roles = set(me.get("memberof_role", ())) | set(me.get("memberofindirect_role", ()))
        privileges: set[str] = set()
        for role in sorted(roles):
            privileges |= set(
                self._call("role_show", a_cn=role)["result"].get("memberof_privilege", ())
            )
        permissions: set[str] = set()
        for privilege in sorted(privileges):
            shown = self._call("privilege_show", a_cn=privilege)["result"]
            permissions |= set(shown.get("memberof_permission", ()))
        return me, privileges, permissions

    def subids_for_new_users(self) -> bool:
        """Whether FreeIPA gives every new user subordinate ids (ipaUserDefaultSubordinateId),
        which user_add then generates as the caller (user.py:717-729)."""
        return bool(self._call("config_show")["result"].get("ipauserdefaultsubordinateid"))

    def upg_definition_readable(self) -> bool:
        """Whether user_add's first read as the caller, of the UPG Definition (user.py:556,
        ldap2.py:252-284), succeeds for this account; nobody is added.

        The call names a manager that cannot exist, which user_add refuses after that read
        and before it adds anything (user.py:646-647, baseuser.py:547-570).
        """
        # Short, so a lowered ipaMaxUsernameLength (checked before the manager, user.py:588-595)
        # lets it by.
        probe = f"aapf{uuid.uuid4().hex[:6]}"
        try:
            self._call(
                "user_add", a_uid=probe, o_givenname="AccessAdmin", o_sn="Preflight",
                o_cn="AccessAdmin Preflight", o_manager=_NO_SUCH_MANAGER,
            )  # fmt: skip
        except NotFound:
            return True
        except PermanentError as error:
            if UPG_UNREADABLE in str(error):
                return False
            raise
        self._call("user_del", a_uid=probe)
        raise PermanentError(SYSTEM, f"user_add accepted the manager {_NO_SUCH_MANAGER!r}")

    def base_dn(self) -> str:
        """The directory suffix, from the logged-in account's own entry."""
        dn = self._call("user_show", a_uid=self.username, o_all=True)["result"]["dn"]
        return dn.split(",cn=accounts,", 1)[1]

    # Roles, privileges and permissions (freeipa_grant) -------------------------------------

    def pbac_add(self, command: str, name: str, **options: Any) -> bool:
        """permission_add, privilege_add or role_add; False when it exists already."""
        try:
            self._call(command, a_cn=name, **{f"o_{key}": value for key, value in options.items()})
        except AlreadyExists:
            return False
        return True

    def pbac_members(self, command: str, name: str, **members: list[str]) -> list[str]:
        """privilege_add_permission, role_add_privilege or role_add_member; the names it added
        (those already there are fine, anything else refused is an error)."""
        options = {f"o_{kind}": names for kind, names in members.items()}
        result = self._call(command, a_cn=name, **options)
        self._member_failures_raise(command, name, result, _ALREADY_MEMBER)
        refused = {
            refused_name
            for kind in result.get("failed", {}).values()
            for entries in kind.values()
            for refused_name, _ in entries
        }
        return [n for names in members.values() for n in names if n not in refused]

    @staticmethod
    def _translate(error: Exception, method: str = "login") -> DownstreamError:
        if isinstance(error, DownstreamError):
            return error
        # Before ConnectionError, which SSLError is: a certificate does not get better by waiting.
        if isinstance(error, requests.exceptions.SSLError):
            return PermanentError(
                SYSTEM,
                f"{method}: TLS with FreeIPA failed ({_tls_reason(error)}); check FREEIPA_CA_FILE "
                "and that FREEIPA_HOST is the name on the server's certificate",
            )
        if isinstance(error, requests.Timeout | requests.ConnectionError):
            return TransientError(
                SYSTEM, f"{method}: cannot reach FreeIPA ({type(error).__name__})"
            )
        code = getattr(error, "code", None)
        message = f"{method}: {error}"
        if code == _DATABASE_ERROR:
            unavailable = str(error).startswith(_DATABASE_UNAVAILABLE)
            return (TransientError if unavailable else PermanentError)(SYSTEM, message)
        if isinstance(error, ipa_errors.DuplicateEntry):
            return AlreadyExists(SYSTEM, message)
        if isinstance(error, ipa_errors.NotFound):
            return NotFound(SYSTEM, message)
        if isinstance(error, ipa_errors.Denied):
            return PermanentError(
                SYSTEM, f"{method}: the service account may not do this ({error})"
            )
        if isinstance(code, int) and ((code >= 500 and code < 600) or code in _TRANSIENT_CODES):
            return TransientError(SYSTEM, message)
        return PermanentError(SYSTEM, message)

    # Users ---------------------------------------------------------------------------------

    def user_find(self, *, username: str) -> IpaUser | None:
        """The user, active or preserved; None when FreeIPA has neither."""
        try:
            result = self._call("user_show", a_uid=username, o_all=True)
        except NotFound:
            return None
        return IpaUser.from_entry(result["result"])

    def users_find(self, *, usernames: list[str]) -> dict[str, IpaUser | None]:
        """`user_find` for many usernames in one batch round trip per BATCH_SIZE of them."""
        found: dict[str, IpaUser | None] = {}
        for start in range(0, len(usernames), BATCH_SIZE):
            chunk = usernames[start : start + BATCH_SIZE]
            calls = [{"method": "user_show", "params": [[name], {"all": True}]} for name in chunk]
            results = self._batch(calls, missing_ok=True)
            for name, result in zip(chunk, results, strict=True):
                missing = result.get("error_code") == NOT_FOUND_CODE
                found[name] = None if missing else IpaUser.from_entry(result["result"])
        return found

    def user_create(
        self, *, username: str, first_name: str, last_name: str, email: str, password: str
    ) -> IpaUser:
        """A user who must use OTP, with a temporary password FreeIPA expires at once."""
        result = self._call(
            "user_add",
            a_uid=username,
            o_givenname=first_name,
            o_sn=last_name,
            o_cn=f"{first_name} {last_name}",
            o_mail=email,
            o_userpassword=password,
            o_ipauserauthtype=["otp"],
        )
        return IpaUser.from_entry(result["result"])

    def user_details_set(
        self, *, username: str, first_name: str, last_name: str, email: str
    ) -> None:
        """Names and e-mail, the common name following the names: all within "System: Modify
        Users" (user.py:361-385). The same values again are no change, not an error."""
        try:
            self._call(
                "user_mod",
                a_uid=username,
                o_givenname=first_name,
                o_sn=last_name,
                o_cn=f"{first_name} {last_name}",
                o_mail=email,
            )
        except PermanentError as error:
            if "no modifications to be performed" not in error.message:
                raise

    def user_reset_password(self, *, username: str, password: str) -> IpaUser:
        """A new temporary password (expired at once by FreeIPA) and OTP required again."""
        result = self._call(
            "user_mod",
            a_uid=username,
            o_userpassword=password,
            o_ipauserauthtype=["otp"],
            o_all=True,
        )
        return IpaUser.from_entry(result["result"])

    def password_change_as_user(
        self, *, username: str, old_password: str, otp: str, new_password: str
    ) -> None:
        """The person's own change (`/ipa/session/change_password`), which binds as them with the
        old password and code first; PasswordRefused says why FreeIPA refused it. Their new
        password lasts the policy's life, unlike one an administrator sets."""
        host = self.hosts[0] if self.hosts else ""
        if not host:
            raise PermanentError(SYSTEM, "FREEIPA_HOST is not configured")
        client = ClientMeta(host, verify_ssl=self._verify, dns_discovery=False)
        session = client._session
        session.request = functools.partial(session.request, timeout=self._timeout)
        try:
            client.change_password(username, new_password, old_password, otp=otp)
        except ipa_errors.PWChangePolicyError as error:
            raise PasswordRefused(SYSTEM, policy=error.policy_error or "") from None
        except ipa_errors.PWChangeInvalidPassword:
            raise PasswordRefused(SYSTEM, policy="") from None
        except Exception as error:
            raise self._translate(error, "change_password") from None

    def password_policy_show(self, *, username: str) -> dict[str, Any]:
        """The policy FreeIPA applies to this person (pwpolicy.py:725-739, `--user`)."""
        return self._call("pwpolicy_show", o_user=username, o_all=True)["result"]

    def password_set(self, *, username: str, password: str) -> str:
        """Set a password as this account; FreeIPA's new krbPasswordExpiration ("" if none)."""
        entry = self._call("user_mod", a_uid=username, o_userpassword=password, o_all=True)
        expires = entry["result"].get("krbpasswordexpiration") or [""]
        return expires[0].get("__datetime__", "") if isinstance(expires[0], dict) else expires[0]

    def user_delete(self, *, username: str) -> bool:
        """Delete for good (undoing an onboarding); False when there was nothing to delete."""
        try:
            self._call("user_del", a_uid=username, o_preserve=False)
        except NotFound:
            return False
        return True

    def user_disable(self, *, username: str) -> None:
        try:
            self._call("user_disable", a_uid=username)
        except PermanentError as error:
            if "already disabled" not in error.message:
                raise

    def user_enable(self, *, username: str) -> None:
        try:
            self._call("user_enable", a_uid=username)
        except PermanentError as error:
            if "already enabled" not in error.message:
                raise

    def user_preserve(self, *, username: str) -> None:
        try:
            self._call("user_del", a_uid=username, o_preserve=True)
        except PermanentError as error:
            if "already preserved" not in error.message:
                raise

    def user_restore(self, *, username: str) -> None:
        try:
            self._call("user_undel", a_uid=username)
        except PermanentError as error:
            if "already active" not in error.message:
                raise

    # Groups --------------------------------------------------------------------------------

    def group_find(self, *, name: str) -> IpaGroup | None:
        try:
            result = self._call("group_show", a_cn=name, o_all=True)
        except NotFound:
            return None
        return IpaGroup.from_entry(result["result"])

    def group_ensure(self, *, name: str, description: str) -> IpaGroup:
        try:
            result = self._call("group_add", a_cn=name, o_description=description)
        except AlreadyExists:
            return self.group_find(name=name)
        return IpaGroup.from_entry(result["result"])

    def group_add_members(self, *, username: str, groups: list[str]) -> None:
        self._members_change("group_add_member", username, groups, tolerated=_ALREADY_MEMBER)

    def group_remove_members(self, *, username: str, groups: list[str]) -> None:
        self._members_change("group_remove_member", username, groups, tolerated=_NOT_MEMBER)

    def group_add_manager(self, *, group: str, username: str) -> None:
        result = self._call("group_add_member_manager", a_cn=group, o_user=[username])
        self._member_failures_raise("group_add_member_manager", group, result, _ALREADY_MEMBER)

    def group_remove_manager(self, *, group: str, username: str) -> None:
        result = self._call("group_remove_member_manager", a_cn=group, o_user=[username])
        self._member_failures_raise("group_remove_member_manager", group, result, _NOT_MEMBER)

    def groups_managed_by(self, *, username: str) -> list[str]:
        """The groups whose members this user may manage (a team lead's groups)."""
        result = self._call("group_find", o_membermanager_user=username, o_sizelimit=0)
        return sorted(_first(entry, "cn") for entry in result["result"])

    def _members_change(self, method: str, username: str, groups: list[str], tolerated: str):
        if not groups:
            return
        calls = [{"method": method, "params": [[group], {"user": [username]}]} for group in groups]
        results = self._batch(calls)
        for group, result in zip(groups, results, strict=True):
            self._member_failures_raise(method, group, result, tolerated)

    def _batch(self, calls: list[dict], *, missing_ok: bool = False) -> list[dict]:
        """One round trip for many calls; a failed call is raised as the error it stands for
        (with `missing_ok`, a NotFound stays in the results for the caller to read)."""
        response = self._call("batch", a_methods=calls)
        results = response["results"]
        for call, result in zip(calls, results, strict=True):
            if missing_ok and result.get("error_code") == NOT_FOUND_CODE:
                continue
            if result.get("error"):
                code = result.get("error_code")
                error = ipa_errors.error_codes.get(code, ipa_errors.BadRequest)(
                    message=result["error"], code=code
                )
                raise self._translate(error, f"{call['method']} {call['params'][0]}")
        return results

    @staticmethod
    def _member_failures_raise(method: str, group: str, result: dict, tolerated: str) -> None:
        for kinds in result.get("failed", {}).values():
            for entries in kinds.values():
                for name, reason in entries:
                    if reason != tolerated:
                        raise PermanentError(SYSTEM, f"{method} {group}: {name}: {reason}")

    # OTP tokens ----------------------------------------------------------------------------

    def otp_token_add(self, *, username: str, description: str) -> tuple[OtpToken, str]:
        """A TOTP token owned and managed by the user, and its enrolment URI (a secret: show it
        once). FreeIPA makes the owner a manager only when owners add their own tokens
        (otptoken.py:321-328); without it a person cannot manage a token an admin made for them.
        The id is chosen here, so adding the token and its manager is one round trip."""
        token_id = str(uuid.uuid4())
        added, managed = self._batch(
            [
                {
                    "method": "otptoken_add",
                    "params": [
                        [token_id],
                        {"type": "totp", "ipatokenowner": username, "description": description},
                    ],
                },
                {"method": "otptoken_add_managedby", "params": [[token_id], {"user": [username]}]},
            ]
        )
        self._member_failures_raise("otptoken_add_managedby", token_id, managed, _ALREADY_MEMBER)
        entry = added["result"]
        return OtpToken.from_entry(entry), entry["uri"]

    def otp_tokens(self, *, username: str) -> list[OtpToken]:
        """The tokens of an active user; none for someone who is not one (FreeIPA answers
        NotFound for a preserved or unknown owner, otptoken.py _normalize_owner)."""
        try:
            result = self._call("otptoken_find", o_ipatokenowner=username)
        except NotFound:
            return []
        return [OtpToken.from_entry(entry) for entry in result["result"]]

    def otp_tokens_delete(self, *, username: str) -> int:
        tokens = self.otp_tokens(username=username)
        if tokens:
            self._batch(
                [{"method": "otptoken_del", "params": [[token.id], {}]} for token in tokens]
            )
        return len(tokens)
