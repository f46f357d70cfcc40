"""A temporary password is read off a printed sheet and typed by hand: no look-alike characters,
no punctuation at either end, every class FreeIPA's policies may ask for, and at least the
strength the old 16 characters from 67 had."""

import math

from onboarding.systems.freeipa.steps import PASSWORD_CLASSES, PASSWORD_LENGTH, temporary_password

LOOK_ALIKES = set("0Oo1lI")


def test_temporary_passwords_are_easy_to_type_and_as_strong_as_before():
    passwords = {temporary_password() for _ in range(2000)}

    assert len(passwords) == 2000
    for password in passwords:
        assert len(password) == PASSWORD_LENGTH
        assert not LOOK_ALIKES & set(password), password
        assert password[0].isalnum() and password[-1].isalnum(), password
        assert all(any(c in password for c in chars) for chars in PASSWORD_CLASSES), password
    alphabet = len("".join(PASSWORD_CLASSES))
    assert PASSWORD_LENGTH * math.log2(alphabet) >= 16 * math.log2(67)
