"""Password and OTP rules: admin-set passwords expire at once, self-set ones last the policy."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import string

import pyotp

from .encoding import from_generalized, to_generalized, utcnow
from .store import Entry, escape
from .tree import Tree

DEFAULT_POLICY = {
    "krbmaxpwdlife": 7_776_000,
    "krbminpwdlife": 3_600,
    "krbpwdminlength": 8,
    "krbpwdhistorylength": 0,
    "krbpwdmindiffchars": 0,
    "krbpwdmaxfailure": 6,
    "krbpwdfailurecountinterval": 60,
    "krbpwdlockoutduration": 600,
}
# FreeIPA accepts codes this far from the server clock (ipaTokenTOTPauthWindow).
TOTP_WINDOW_SECONDS = 300


class PolicyError(Exception):
    """A password the policy refuses; the text is what FreeIPA puts in the header."""


def policy_for(tree: Tree, user: Entry) -> dict[str, int]:
    """The policy of the user's group with the lowest CoS priority, else the global one."""
    candidates = []
    for group in tree.groups_with("member", user.dn):
        entry = tree.directory.get(f"cn={group.first('cn')},{tree.container('kerberos')}")
        if entry is not None:
            candidates.append((int(entry.first("cospriority", "0")), entry))
    chosen = min(candidates, key=lambda pair: pair[0])[1] if candidates else None
    chosen = chosen or tree.directory.get(tree.global_policy_dn)
    policy = dict(DEFAULT_POLICY)
    global_entry = tree.directory.get(tree.global_policy_dn)
    for source in (global_entry, chosen):
        if source is not None:
            for name in policy:
                if source.get(name):
                    policy[name] = int(source.first(name))
    return policy


def random_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def set_by_admin(tree: Tree, dn: str, password: str) -> None:
    """An administrator's reset: the password works for one change only."""
    now = to_generalized(utcnow() - dt.timedelta(seconds=1))
    _store(tree, dn, password, now, now)


def set_by_self(tree: Tree, user: Entry, password: str) -> None:
    policy = policy_for(tree, user)
    if len(password) < policy["krbpwdminlength"]:
        raise PolicyError("Constraint violation: Password is too short")
    last = user.first("krblastpwdchange")
    expiry = user.first("krbpasswordexpiration")
    if last and last != expiry:
        age = (utcnow() - from_generalized(last)).total_seconds()
        if age < policy["krbminpwdlife"]:
            raise PolicyError("Constraint violation: Too soon to change password")
    now = utcnow()
    expires = now + dt.timedelta(seconds=policy["krbmaxpwdlife"])
    _store(tree, user.dn, password, to_generalized(now), to_generalized(expires))


def _store(tree: Tree, dn: str, password: str, changed: str, expires: str) -> None:
    principal = dn.split(",", 1)[0].split("=", 1)[1]
    # Opaque in FreeIPA; here it records who changed the password, which is all it is used for.
    extra = b"\x00\x02" + changed.encode() + b"\x00" + principal.encode() + b"\x00"
    tree.directory.replace(
        dn,
        {
            "userPassword": [password],
            "krbLastPwdChange": [changed],
            "krbPasswordExpiration": [expires],
            "krbExtraData": [extra],
        },
    )


def password_expired(user: Entry) -> bool:
    expiry = user.first("krbpasswordexpiration")
    return bool(expiry) and from_generalized(expiry) <= utcnow()


def active_tokens(tree: Tree, user: Entry) -> list[Entry]:
    tokens = tree.directory.search(tree.container("otp"), f"(ipatokenOwner={escape(user.dn)})")
    return [t for t in tokens if str(t.first("ipatokendisabled", "FALSE")).upper() != "TRUE"]


def otp_required(user: Entry, tokens: list[Entry]) -> bool:
    kinds = {value.lower() for value in user.get("ipauserauthtype")}
    if not tokens:
        return False
    return not kinds or kinds == {"otp"} or "password" not in kinds


def check_login(tree: Tree, user: Entry, secret: str) -> bool:
    """Whether `secret` is the password, or the password followed by a current OTP code."""
    tokens = active_tokens(tree, user)
    kinds = {value.lower() for value in user.get("ipauserauthtype")}
    if not otp_required(user, tokens) or ("password" in kinds and "otp" in kinds):
        if tree.directory.password_matches(user.dn, secret):
            return True
        if not tokens:
            return False
    for token in tokens:
        digits = int(token.first("ipatokenotpdigits", "6"))
        password, code = secret[:-digits], secret[-digits:]
        if len(secret) > digits and _accept_code(tree, token, code):
            return tree.directory.password_matches(user.dn, password)
    return False


def totp_for(token: Entry) -> pyotp.TOTP:
    key = token.first("ipatokenotpkey")
    algorithm = token.first("ipatokenotpalgorithm", "sha1").lower()
    return pyotp.TOTP(
        base64.b32encode(key).decode(),
        digits=int(token.first("ipatokenotpdigits", "6")),
        interval=int(token.first("ipatokentotptimestep", "30")),
        digest=getattr(hashlib, algorithm),
    )


def _accept_code(tree: Tree, token: Entry, code: str) -> bool:
    totp = totp_for(token)
    step = totp.interval
    now = utcnow().timestamp() + int(token.first("ipatokentotpclockoffset", "0"))
    watermark = int(token.first("ipatokentotpwatermark", "-1"))
    window = TOTP_WINDOW_SECONDS // step
    for offset in range(-window, window + 1):
        moment = now + offset * step
        counter = int(moment // step)
        if counter > watermark and secrets.compare_digest(totp.at(moment), code):
            # A used code (and any before it) must not work twice.
            tree.directory.replace(token.dn, {"ipatokenTOTPwatermark": [counter]})
            return True
    return False
