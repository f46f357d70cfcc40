"""Password and OTP rules: admin-set passwords expire at once, self-set ones last the policy.

An expired password is also refused over LDAP, as a FreeIPA whose password policy has a grace
limit of 0 or N refuses it: FreeIPA's ipa-graceperiod plugin (daemons/ipa-slapi-plugins/
ipa-graceperiod/ipa_graceperiod.c, ipagraceperiod_preop) refuses a simple bind with err=49
"Password is expired." once krbPasswordExpiration is past and passwordGraceUserTime has
reached the policy's passwordGraceLimit (-1: never refuses, FreeIPA's install default; 0: no
grace login at all).
389-ds has the same rule in its own password policy (need_new_pw in ldap/servers/slapd/
pw_mgmt.c), driven by passwordExpirationTime and cn=config's passwordExp/passwordGraceLimit, so
the stand-in keeps passwordExpirationTime equal to krbPasswordExpiration and copies the global
policy's grace limit into cn=config. Plain 389-ds then refuses such a bind with err=49
"password expired!" and, when asked for it, the password policy control's passwordExpired error.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import os
import secrets
import string

import ldap
import pyotp

from .encoding import from_generalized, to_generalized, utcnow
from .store import Entry, PasswordCheck, escape
from .tree import ACTIVE, STAGED, Tree

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
# passwordGraceLimit: -1 lets expired passwords bind forever, 0 refuses them at once. The
# stand-in starts as FreeIPA is installed, with -1 (install/share/kerberos.ldif); see the README
# for what AccessAdmin's first login does under each.
UNLIMITED_GRACE = -1
DEFAULT_GRACE_LIMIT = UNLIMITED_GRACE
# The int FreeIPA's pwpolicy accepts at most (ipaserver/plugins/pwpolicy.py, Int.MAXINT).
MAX_GRACE_LIMIT = 2**31 - 1
# 389-ds's passwordMaxAge: what a password written past the stand-in (straight into the
# directory, a stage user's) gets as passwordExpirationTime, or an entry without one at its next
# bind. Without krbPasswordExpiration FreeIPA never expires it (ipagraceperiod_preop: "nothing to
# do"): a century.
SERVER_MAX_AGE_SECONDS = 100 * 365 * 86_400
# 389-ds's SLAPD_END_TIME (ldap/servers/slapd/slap.h, 2**31 - 1): an expiry it never replaces.
SERVER_END_TIME = "20380119031407Z"


# The ipa-pwd-extop plugin's entry; its passSyncManagersDNs are the DNs whose password sets are
# neither expired nor checked (daemons/ipa-slapi-plugins/ipa-pwd-extop/common.c:227-228).
PASS_SYNC_CONFIG_DN = "cn=ipa_pwd_extop,cn=plugins,cn=config"
# common.c:232-234: always in the list, whatever the entry says.
DIRECTORY_MANAGER = "cn=Directory Manager"


class PolicyError(Exception):
    """A password the policy refuses; the text is what FreeIPA puts in the header."""


def policy_entry_for(tree: Tree, user: Entry) -> Entry | None:
    """The policy of the user's group with the lowest CoS priority, else the global one."""
    candidates = []
    for group in tree.groups_with("member", user.dn):
        entry = tree.directory.get(f"cn={group.first('cn')},{tree.container('kerberos')}")
        if entry is not None:
            candidates.append((int(entry.first("cospriority", "0")), entry))
    chosen = min(candidates, key=lambda pair: pair[0])[1] if candidates else None
    return chosen or tree.directory.get(tree.global_policy_dn)


def policy_for(tree: Tree, user: Entry) -> dict[str, int]:
    """The rules of policy_entry_for, the global policy's and the defaults filling gaps."""
    chosen = policy_entry_for(tree, user)
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


def pass_sync_managers(tree: Tree) -> list[str]:
    """The DNs FreeIPA treats as password-sync managers, Directory Manager always among them."""
    entry = tree.directory.get(PASS_SYNC_CONFIG_DN)
    listed = [str(dn) for dn in entry.get("passsyncmanagersdns")] if entry is not None else []
    return [*listed, DIRECTORY_MANAGER]


def pass_sync_managers_set(tree: Tree, dns: list[str]) -> None:
    """What an admin does with ldapmodify as Directory Manager (see the README, grace limit 0)."""
    if tree.directory.get(PASS_SYNC_CONFIG_DN) is None:
        tree.directory.add(
            PASS_SYNC_CONFIG_DN,
            {"objectClass": ["top", "extensibleObject"], "cn": ["ipa_pwd_extop"]},
        )
    entry = tree.directory.get(PASS_SYNC_CONFIG_DN)
    if dns or (entry is not None and entry.get("passsyncmanagersdns")):
        tree.directory.replace(PASS_SYNC_CONFIG_DN, {"passSyncManagersDNs": dns or None})


def is_pass_sync_manager(tree: Tree, dn: str) -> bool:
    # slapi_ch_array_utf8_inlist compares case-insensitively.
    return dn.lower() in {manager.lower() for manager in pass_sync_managers(tree)}


def set_by_admin(tree: Tree, dn: str, password: str, *, by: str = "") -> None:
    """Someone else's set: it works for one change only, unless `by` is a password-sync manager.

    ipa_pwd_extop.c:583-592 (the password extended operation) and prepost.c:366-380 (add) and
    867-880 (modify) make a set by a DN in passSyncManagersDNs IPA_CHANGETYPE_DSMGR; for it
    ipapwd_CheckPolicy (common.c:645-660) keeps only the policy's max life and history length,
    so the password expires after the max life (common.c:697-703), and its policy error is
    ignored (ipa_pwd_extop.c:604-618, prepost.c:392-401 and 894-904).
    """
    user = tree.directory.get(dn)
    if by and user is not None and is_pass_sync_manager(tree, by):
        _set_by_pass_sync(tree, user, password)
        return
    now = to_generalized(utcnow() - dt.timedelta(seconds=1))
    history = _new_history(tree, user, password, now) if user is not None else []
    _store(tree, dn, password, now, now, history)


def set_by_self(tree: Tree, user: Entry, password: str) -> None:
    """The user's own change, checked in ipapwd_check_policy's order (util/ipa_pwd.c:533-667)."""
    policy = policy_for(tree, user)
    last = user.first("krblastpwdchange")
    expiry = user.first("krbpasswordexpiration")
    if last and last != expiry:
        age = (utcnow() - from_generalized(last)).total_seconds()
        if age < policy["krbminpwdlife"]:
            raise PolicyError("Constraint violation: Too soon to change password")
    if character_classes(password) < policy["krbpwdmindiffchars"]:
        raise PolicyError("Constraint violation: Password is too simple")
    if len(password) < policy["krbpwdminlength"]:
        raise PolicyError("Constraint violation: Password is too short")
    if any(_matches(password, element) for element in _history(tree, user.dn)):
        # ipa_pwd.c:668-679, IPAPWD_POLICY_PWD_IN_HISTORY's text (:685-701).
        raise PolicyError("Constraint violation: Password reuse not permitted")
    now = utcnow()
    expires = now + dt.timedelta(seconds=policy["krbmaxpwdlife"])
    history = _new_history(tree, user, password, to_generalized(now))
    _store(tree, user.dn, password, to_generalized(now), to_generalized(expires), history)


def _set_by_pass_sync(tree: Tree, user: Entry, password: str) -> None:
    now = utcnow()
    life = policy_for(tree, user)["krbmaxpwdlife"]
    # common.c:697-703: a max life of 0 means the password never expires.
    expires = to_generalized(now + dt.timedelta(seconds=life)) if life > 0 else SERVER_END_TIME
    history = _new_history(tree, user, password, to_generalized(now))
    _store(tree, user.dn, password, to_generalized(now), expires, history)


# An element of passwordHistory: when, then a salted hash (ipa_pwd.c:347-393 keeps the same
# shape with its own hash).
HISTORY_HASH = "{SSHA256}"
GENERALIZED_TIME_LENGTH = len("20240101000000Z")


def _history(tree: Tree, dn: str) -> list[str]:
    found = tree.directory.search(dn, scope=ldap.SCOPE_BASE, attributes=("passwordHistory",))
    return found[0].get("passwordhistory") if found else []


def _hashed(password: str, salt: bytes) -> bytes:
    return hashlib.sha256(password.encode() + salt).digest() + salt


def _matches(password: str, element: str) -> bool:
    body = element[GENERALIZED_TIME_LENGTH:]
    if not body.startswith(HISTORY_HASH):
        return False
    stored = base64.b64decode(body[len(HISTORY_HASH) :])
    return secrets.compare_digest(_hashed(password, stored[32:]), stored)


def _new_history(tree: Tree, user: Entry, password: str, when: str) -> list[str]:
    """The last krbPwdHistoryLength passwords, the new one included; none when the policy
    keeps no history (common.c:948-955, ipa_pwd.c:726-800 ipapwd_generate_new_history)."""
    length = policy_for(tree, user)["krbpwdhistorylength"]
    if length <= 0:
        return []
    element = when + HISTORY_HASH + base64.b64encode(_hashed(password, os.urandom(8))).decode()
    kept = sorted(_history(tree, user.dn), reverse=True)[: length - 1]
    return [element, *kept]


def character_classes(password: str) -> int:
    """Digits, upper, lower, other ASCII, non-ASCII; a run of three costs one (ipa_pwd.c:572-642)"""
    classes = [
        any(c.isascii() and c.isdigit() for c in password),
        any(c.isascii() and c.isupper() for c in password),
        any(c.isascii() and c.islower() for c in password),
        any(c.isascii() and not c.isalnum() for c in password),
        any(not c.isascii() for c in password),
    ]
    longest = run = 0
    for previous, current in itertools.pairwise(password):
        run = run + 1 if previous == current else 0
        longest = max(longest, run)
    return sum(classes) - (1 if longest > 1 else 0)


def _store(
    tree: Tree, dn: str, password: str, changed: str, expires: str, history: list[str]
) -> None:
    principal = dn.split(",", 1)[0].split("=", 1)[1]
    # Opaque in FreeIPA; here it records who changed the password, which is all it is used for.
    extra = b"\x00\x02" + changed.encode() + b"\x00" + principal.encode() + b"\x00"
    write_password(
        tree,
        dn,
        {
            "userPassword": [password],
            "krbLastPwdChange": [changed],
            "krbPasswordExpiration": [expires],
            "krbExtraData": [extra],
            "passwordHistory": history,
        },
        expires,
    )


def write_password(tree: Tree, dn: str, attrs: dict[str, list], expires: str) -> None:
    """Write attrs (userPassword among them), then `expires` as passwordExpirationTime.

    389-ds's policy goes by passwordExpirationTime, so it must equal krbPasswordExpiration. After
    answering a modify of userPassword, 389-ds sets passwordExpirationTime to now +
    passwordMaxAge (update_pw_info in ldap/servers/slapd/pw.c, called in modify.c once the
    backend has sent the result): that replaces a value sent in the same modify, and about half
    the time one sent right after it too. It leaves alone an entry the modify left at
    SLAPD_END_TIME ("special entries' passwords never expire"), so that goes in with the password
    and the real expiry follows. Between the two, a few milliseconds, the new password binds.
    """
    tree.directory.replace(dn, {**attrs, "passwordExpirationTime": [SERVER_END_TIME]})
    tree.directory.replace(dn, {"passwordExpirationTime": [expires]})


def mirror_missing_expiries(tree: Tree) -> None:
    """Give passwordExpirationTime to users that have none (written before the stand-in kept it).

    Run before the policy is enforced: 389-ds would give them now + passwordMaxAge at their
    next bind, and an expired temporary password would bind for a century.
    """
    for kind in (ACTIVE, STAGED):
        for entry in tree.directory.search(
            tree.container(kind),
            "(&(krbPasswordExpiration=*)(!(passwordExpirationTime=*)))",
            attributes=("krbPasswordExpiration",),
        ):
            expires = entry.first("krbpasswordexpiration")
            tree.directory.replace(entry.dn, {"passwordExpirationTime": [expires]})


def global_grace_limit(tree: Tree) -> int:
    """The global policy's passwordGraceLimit; missing counts as 0, as in ipagraceperiod_preop."""
    entry = tree.directory.get(tree.global_policy_dn)
    value = entry.first("passwordgracelimit") if entry is not None else None
    return int(value) if value is not None else 0


def set_grace_limit(tree: Tree, limit: int) -> None:
    """Write the global policy's grace limit and have 389-ds enforce it on LDAP binds."""
    tree.directory.replace(tree.global_policy_dn, {"passwordGraceLimit": [limit]})
    enforce_grace_limit(tree)


def enforce_grace_limit(tree: Tree) -> None:
    """Copy the global policy's grace limit into 389-ds's own password policy (cn=config).

    -1 switches 389-ds's expiry checks off, so expired passwords bind as they do in FreeIPA by
    default. Otherwise an expired password binds `limit` more times, counted in the entry's
    passwordGraceUserTime (the attribute FreeIPA's plugin counts in too; both reset it to 0
    when the password is written), then err=49. passwordWarning 0: with the default 86400, a
    bind in the last day before expiry would push passwordExpirationTime one day on.
    """
    limit = global_grace_limit(tree)
    if limit < 0:
        settings: dict[str, list] = {"passwordExp": ["off"]}
    else:
        settings = {
            "passwordExp": ["on"],
            "passwordGraceLimit": [limit],
            "passwordMaxAge": [SERVER_MAX_AGE_SECONDS],
            "passwordWarning": [0],
        }
    tree.directory.replace("cn=config", settings)


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


def check_login(tree: Tree, user: Entry, secret: str, *, expired_binds: bool = True) -> bool:
    """Whether `secret` is the password, or the password followed by a current OTP code.

    The check is a bind, so with a grace limit above 0 it uses up one of the user's grace
    logins. With expired_binds an expired password counts (login_password, which FreeIPA checks
    through Kerberos, answers password-expired); without, the bind must succeed, grace period
    and all, as FreeIPA's change_password needs (see bind_as_user).
    """
    tokens = active_tokens(tree, user)
    kinds = {value.lower() for value in user.get("ipauserauthtype")}

    def matches(password: str) -> bool:
        check = tree.directory.check_password(user.dn, password)
        return check is PasswordCheck.ACCEPTED or (expired_binds and check is PasswordCheck.EXPIRED)

    if not otp_required(user, tokens) or ("password" in kinds and "otp" in kinds):
        if matches(secret):
            return True
        if not tokens:
            return False
    for token in tokens:
        digits = int(token.first("ipatokenotpdigits", "6"))
        password, code = secret[:-digits], secret[-digits:]
        if len(secret) > digits and _accept_code(tree, token, code):
            return matches(password)
    return False


def bind_as_user(tree: Tree, user: Entry, secret: str) -> bool:
    """FreeIPA's change_password binds as the user with the old password (and code) first and
    answers invalid-password when that bind is refused (ipaserver/rpcserver.py, change_password
    .__call__, lines 1284-1295 at b16f3b80). ipa-graceperiod decides that bind for an expired
    password (daemons/ipa-slapi-plugins/ipa-graceperiod/ipa_graceperiod.c at b16f3b80): -1 skips
    the check (lines 445-448), N > 0 lets it bind while passwordGraceUserTime < N and counts one
    (457-482), and otherwise, 0 included, refuses it "Password is expired." (483-491). 389-ds's
    own policy, set from the same grace limit (enforce_grace_limit), gives the same answers."""
    return check_login(tree, user, secret, expired_binds=False)


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
