"""Input rules, checked before anything is written or queued."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from onboarding.errors import InvalidInput

# FreeIPA's rule for user and group names (ipalib/constants.py PATTERN_GROUPUSER_NAME), minus a
# trailing "$" (machine accounts; not allowed in IAM role names) and a leading dot: a name becomes
# a path (/data/<name>) and a URL part (/users/<name>), where "." and ".." are not names.
_NAME = re.compile(r"[a-z0-9_][a-z0-9_.-]*")
USERNAME_MAX_LENGTH = 32  # FreeIPA's default ipaMaxUsernameLength
GROUP_NAME_MAX_LENGTH = 255
# Accounts of the systems themselves, and names people mistake for them.
RESERVED_NAMES = frozenset(
    {
        "root", "admin", "admins", "administrator", "administrators", "daemon", "bin", "sys",
        "sync", "nobody", "nogroup", "operator", "games", "man", "mail", "news", "uucp", "proxy",
        "www-data", "backup", "list", "irc", "gnats", "sshd", "systemd-network", "messagebus",
        "postgres", "redis", "dirsrv", "ldap", "krbtgt", "kadmin", "host", "http", "ipausers",
        "editors", "trust-admins", "ipaservers", "accessadmin", "jupyterhub", "jovyan",
        "ec2-user", "ubuntu", "debian", "guest", "support", "security", "hostmaster",
        "postmaster", "webmaster", "abuse", "noreply", "no-reply",
    }
)  # fmt: skip
TEXT_MAX_LENGTH = 1000  # a reason, a note: enough to say why, not a document
NAME_MAX_LENGTH = 128
# C0 and C1 controls and DEL; a name also may not hold Unicode's line and paragraph separators:
# a name is put into e-mails, pages and CSV exports, where a new line starts a new paragraph.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\n\r\u2028\u2029\x0b\x0c\x85]")
_CONTROLS_IN_PROSE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def username_fold(raw: str) -> str:
    """FreeIPA lower-cases names on input; every lookup by username goes through this."""
    return (raw or "").strip().lower()


def username_normalise(raw: str) -> str:
    """The username as FreeIPA will store it, or InvalidInput saying why it cannot be one."""
    username = username_fold(raw)
    if not username:
        raise InvalidInput("A username is required.")
    if len(username) > USERNAME_MAX_LENGTH:
        raise InvalidInput(
            f"Username {username!r} is {len(username)} characters long; "
            f"FreeIPA allows at most {USERNAME_MAX_LENGTH}."
        )
    if username.endswith("$"):
        raise InvalidInput(f"Username {username!r} ends with '$', which marks machine accounts.")
    if username.isdigit():
        raise InvalidInput(f"Username {username!r} is all digits; FreeIPA refuses that.")
    if not _NAME.fullmatch(username):
        raise InvalidInput(
            f"Username {username!r} may only include letters, numbers, _, - and ., "
            "and must start with a letter, a number or _."
        )
    if username in RESERVED_NAMES:
        raise InvalidInput(f"Username {username!r} is reserved for a system account.")
    return username


def username_for_a_person(raw: str) -> str:
    """A username a new person may have: valid, not reserved, and not a local account's (a
    break-glass login must never share a name with a directory account)."""
    from django.contrib.auth import get_user_model

    username = username_normalise(raw)
    local = get_user_model().objects.filter(username__iexact=username).exclude(password="")
    if any(user.has_usable_password() for user in local):
        raise InvalidInput(f"Username {username!r} belongs to a local AccessAdmin account.")
    return username


def person_fields_check(*, first_name: str, last_name: str, email: str) -> None:
    """InvalidInput naming every problem of the fields at once, or nothing."""
    problems = person_fields_problems(first_name=first_name, last_name=last_name, email=email)
    if problems:
        raise InvalidInput(" ".join(problems))


def person_fields_problems(*, first_name: str, last_name: str, email: str) -> list[str]:
    """Every problem of a person's names and e-mail address, each in a sentence."""
    problems = []
    for label, value in (("First name", first_name), ("Last name", last_name)):
        try:
            text_check(value, label=label, max_length=NAME_MAX_LENGTH, one_line=True)
        except InvalidInput as error:
            problems.append(str(error))
    if len(email or "") > 254:
        problems.append("The email address is longer than 254 characters.")
    else:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"{email!r} is not a valid email address.")
    return problems


def group_name_check(name: str, *, label: str = "Group name") -> str:
    if not _NAME.fullmatch(name or "") or len(name) > GROUP_NAME_MAX_LENGTH:
        raise InvalidInput(
            f"{label} {name!r} may only include lower-case letters, numbers, _, - and ., must "
            f"start with a letter, a number or _, and be at most {GROUP_NAME_MAX_LENGTH} long."
        )
    if name in RESERVED_NAMES:
        raise InvalidInput(f"{label} {name!r} is reserved for a system group.")
    return name


def text_check(
    value: str, *, label: str, max_length: int = TEXT_MAX_LENGTH, one_line: bool = False
) -> str:
    """The text stripped, or InvalidInput naming the field: required, at most `max_length`, no
    NUL or other control character; a name (`one_line`) also no line break of any kind."""
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{label} is required.")
    if len(value) > max_length:
        raise InvalidInput(f"{label} is {len(value)} characters long; at most {max_length}.")
    if "\x00" in value:
        raise InvalidInput(f"{label} holds a NUL character; nothing was changed.")
    if one_line and _LINE_BREAKS.search(value):
        raise InvalidInput(f"{label} holds a line break; it must be one line.")
    found = (_CONTROLS if one_line else _CONTROLS_IN_PROSE).search(value)
    if found:
        raise InvalidInput(
            f"{label} holds the control character U+{ord(found.group()):04X}; nothing was changed."
        )
    return value


def policy_arn_check(arn: str) -> str:
    # IAM's policyArnType is 20 to 2048 characters (botocore/data/iam/2010-05-08/service-2.json).
    if not arn.startswith("arn:aws:iam::") or ":policy/" not in arn or len(arn) > 2048:
        raise InvalidInput(f"{arn!r} is not an IAM policy ARN.")
    return arn
