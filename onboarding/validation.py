"""Input rules, checked before anything is written or queued."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from onboarding.errors import InvalidInput

# FreeIPA's rule for user and group names (ipalib/constants.py PATTERN_GROUPUSER_NAME), minus a
# trailing "$": those are machine accounts, and "$" is not allowed in IAM role names.
_USERNAME = re.compile(r"[a-z0-9_.][a-z0-9_.-]*")
USERNAME_MAX_LENGTH = 32  # FreeIPA's default ipaMaxUsernameLength


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
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            f"Username {username!r} may only include letters, numbers, _, - and ., "
            "and may not start with -."
        )
    return username


def person_fields_check(*, first_name: str, last_name: str, email: str) -> None:
    for label, value in (("First name", first_name), ("Last name", last_name)):
        if not value or not value.strip():
            raise InvalidInput(f"{label} is required.")
        if len(value) > 128:
            raise InvalidInput(f"{label} is longer than 128 characters.")
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"{email!r} is not a valid email address.") from None


def group_name_check(name: str) -> str:
    if not _USERNAME.fullmatch(name or "") or len(name) > 255:
        raise InvalidInput(
            f"Group name {name!r} may only include lower-case letters, numbers, _, - and ."
        )
    return name


def policy_arn_check(arn: str) -> str:
    if not arn.startswith("arn:aws:iam::") or ":policy/" not in arn:
        raise InvalidInput(f"{arn!r} is not an IAM policy ARN.")
    return arn
