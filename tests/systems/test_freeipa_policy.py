"""AccessAdmin's own reading of FreeIPA's password policy, for passwords FreeIPA will not check
(a password-sync manager's): classes then length, in ipapwd_check_policy's order and words
(freeipa/freeipa util/ipa_pwd.c:572-701)."""

from __future__ import annotations

from onboarding.systems.freeipa.policy import (
    TOO_SHORT,
    TOO_SIMPLE,
    PasswordPolicy,
    character_classes,
)

POLICY = {"krbpwdminlength": ["8"], "krbpwdmindiffchars": ["3"], "krbpwdhistorylength": ["0"]}


def test_classes_count_digits_upper_lower_other_and_non_ascii() -> None:
    assert character_classes("abc") == 1
    assert character_classes("aB3!") == 4
    assert character_classes("aB3!é") == 5


def test_three_of_a_character_in_a_row_cost_a_class() -> None:
    assert character_classes("aaB3") == 3
    assert character_classes("aaaB3") == 2


def test_a_password_the_policy_refuses_gets_freeipas_reason() -> None:
    policy = PasswordPolicy.from_entry(POLICY)
    assert policy.refusal("lowercaseonly") == TOO_SIMPLE
    assert policy.refusal("Ab3!") == TOO_SHORT
    assert policy.refusal("Chosen-password-22") == ""


def test_libpwquality_rules_are_named_not_applied() -> None:
    policy = PasswordPolicy.from_entry({**POLICY, "ipapwdmaxrepeat": ["2"]})
    assert policy.quality_rules == ("ipapwdmaxrepeat",)
