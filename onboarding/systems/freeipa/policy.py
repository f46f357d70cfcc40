"""FreeIPA's password policy, applied by AccessAdmin where FreeIPA will not apply it.

A password set by a password-sync manager skips FreeIPA's checks (ipa-pwd-extop's
ipa_pwd_extop.c:604-618 ignores the policy error for IPA_CHANGETYPE_DSMGR), so before setting one
AccessAdmin checks it as ipapwd_check_policy does (freeipa/freeipa util/ipa_pwd.c:533-680):
character classes, then length. The history is not checked: FreeIPA keeps only salted hashes in
passwordHistory, which no permission AccessAdmin holds lets it read. The libpwquality rules
(max repeat, max sequence, dictionary, user name; ipa_pwd.c:405-411) are not reproduced, so a
policy with any of them set is reported instead of half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ipa_pwd.c:686-701, the texts FreeIPA answers with (after "Constraint violation: ").
TOO_SIMPLE = "Password is too simple"
TOO_SHORT = "Password is too short"
PWQUALITY_RULES = ("ipapwdmaxrepeat", "ipapwdmaxsequence", "ipapwddictcheck", "ipapwdusercheck")


def _number(entry: dict[str, Any], name: str) -> int:
    values = entry.get(name) or ["0"]
    value = values[0] if isinstance(values, list) else values
    if isinstance(value, bool):
        return int(value)
    return int(str(value)) if str(value).lstrip("-").isdigit() else 0


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int
    min_classes: int
    history_length: int
    quality_rules: tuple[str, ...]

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> PasswordPolicy:
        return cls(
            min_length=_number(entry, "krbpwdminlength"),
            min_classes=_number(entry, "krbpwdmindiffchars"),
            history_length=_number(entry, "krbpwdhistorylength"),
            quality_rules=tuple(name for name in PWQUALITY_RULES if _number(entry, name)),
        )

    def refusal(self, password: str) -> str:
        """FreeIPA's reason for refusing `password`, or "" when its policy would accept it."""
        if self.min_classes and character_classes(password) < self.min_classes:
            return TOO_SIMPLE
        if self.min_length and len(password) < self.min_length:
            return TOO_SHORT
        return ""


def character_classes(password: str) -> int:
    """ASCII digits, upper, lower, other ASCII, non-ASCII; three of one character in a row
    cost one class (ipa_pwd.c:572-646)."""
    found = {
        "digit": any(c.isascii() and c.isdigit() for c in password),
        "upper": any(c.isascii() and c.isupper() for c in password),
        "lower": any(c.isascii() and c.islower() for c in password),
        "special": any(c.isascii() and not c.isalnum() for c in password),
        "8bit": any(not c.isascii() for c in password),
    }
    tripled = any(
        password[i] == password[i + 1] == password[i + 2] for i in range(len(password) - 2)
    )
    return sum(found.values()) - (1 if tripled else 0)
