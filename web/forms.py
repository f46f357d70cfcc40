"""Web forms: they shape input; the services decide whether it can be done."""

from __future__ import annotations

from datetime import date

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm

from onboarding import team_settings
from onboarding.models import AuditEvent, Person
from onboarding.selectors import AuditFilter
from onboarding.validation import TEXT_MAX_LENGTH, USERNAME_MAX_LENGTH
from web.auth import login_username_fold, otp_password_join


class LoginForm(AuthenticationForm):
    otp_code = forms.CharField(
        label="One-time code",
        required=False,
        max_length=10,
        strip=True,
        help_text="Leave empty if your account has no OTP token.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "That username, password and one-time code did not match. Check them and try again; "
            "after several failures the login is locked for a while."
        ),
    }

    def get_invalid_login_error(self):
        if getattr(self.request, "password_expired", False):
            host = settings.FREEIPA_HOST.split(",")[0].strip() or "your FreeIPA server"
            return forms.ValidationError(
                f"Your password has expired: a new account's temporary password must be changed "
                f"first. Change it at https://{host}/ipa/ui/ (or with kpasswd), then log in "
                "with the new one.",
                code="password_expired",
            )
        return super().get_invalid_login_error()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not settings.LDAP_CHECKS_OTP:
            # A directory that checks passwords alone (the local stand-in): a code would only
            # make the bind fail.
            del self.fields["otp_code"]

    def clean_username(self) -> str:
        return login_username_fold(self.cleaned_data.get("username", ""))

    def clean(self):
        password = self.cleaned_data.get("password")
        if password is not None:
            self.cleaned_data["password"] = otp_password_join(
                password, self.cleaned_data.get("otp_code", "")
            )
        return super().clean()


def _team_choices(team_names: list[str]) -> list[tuple[str, str]]:
    return [(name, name) for name in team_names]


def _team_choose(team_names: list[str]) -> list[tuple[str, str]]:
    """Nobody is put in a team by default: the first choice is to choose one."""
    return [("", "Choose a team"), *_team_choices(team_names)]


class OnboardForm(forms.Form):
    username = forms.CharField(
        max_length=USERNAME_MAX_LENGTH,
        strip=True,
        help_text="Their FreeIPA login: lower-case letters, digits, '.', '_' and '-', not "
        "starting with '.' or '-'. It is checked against FreeIPA before anything is queued.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    first_name = forms.CharField(max_length=128, widget=forms.TextInput(
        attrs={"autocomplete": "off"}))  # fmt: skip
    last_name = forms.CharField(max_length=128, widget=forms.TextInput(
        attrs={"autocomplete": "off"}))  # fmt: skip
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    team = forms.ChoiceField(
        help_text="Decides their FreeIPA groups, IAM policies and JupyterHub group."
    )
    start_date = forms.DateField(
        required=False,
        help_text="Optional: a later day, and they are onboarded on that day rather than now.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    end_date = forms.DateField(
        required=False,
        help_text="Optional: they are offboarded once this day comes.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, team_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = _team_choose(team_names)


class OnboardCsvForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, with the header username,first_name,last_name,email,team and one "
        "person a row. Every row is checked before anyone is onboarded.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    # Far more than BULK_MAX_ROWS rows take; a larger upload is not read into memory.
    MAX_BYTES = 2 * 1024 * 1024

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB; split it.")
        return file


class PersonUpdateForm(forms.Form):
    first_name = forms.CharField(max_length=128, widget=forms.TextInput(
        attrs={"autocomplete": "off"}))  # fmt: skip
    last_name = forms.CharField(max_length=128, widget=forms.TextInput(
        attrs={"autocomplete": "off"}))  # fmt: skip
    email = forms.EmailField(
        label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )


class OffboardForm(forms.Form):
    reason = forms.CharField(
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why they leave; it goes into the audit trail.",
    )
    confirm_username = forms.CharField(
        required=False,
        max_length=USERNAME_MAX_LENGTH * 2,
        label="Type the username to confirm",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, username: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.username = username

    def confirmed(self) -> bool:
        """The username typed exactly as it is (spaces around it aside)."""
        typed = (self.cleaned_data.get("confirm_username") or "").strip()
        return typed == self.username


class MoveForm(forms.Form):
    team = forms.ChoiceField(label="New team")

    def __init__(self, *args, team_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = _team_choose(team_names)


class ReinstateForm(forms.Form):
    reason = forms.CharField(
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why they come back; it goes into the audit trail.",
    )
    team = forms.ChoiceField(
        help_text="The team they come back to: it decides their FreeIPA groups, IAM policies "
        "and JupyterHub group."
    )

    def __init__(self, *args, team_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = _team_choices(team_names)


class TeamForm(forms.Form):
    name = forms.SlugField(max_length=64)
    freeipa_group = forms.CharField(max_length=255, label="FreeIPA group")
    leads = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Usernames, separated by commas or spaces: exactly the team's leads. They "
        "become the group's member managers; anyone left out stops being a lead, here and in "
        "FreeIPA.",
    )
    iam_policy_arns = forms.CharField(
        required=False,
        max_length=20 * 2049,
        label="IAM policy ARNs",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One managed policy ARN per line.",
    )

    def __init__(self, *args, editing: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["name"].disabled = True
        for system, setting in team_settings.declared():
            self.fields[team_settings.key(system, setting)] = forms.CharField(
                required=False, max_length=2000, label=f"{system.label} {setting.label.lower()}",
                help_text=setting.help_text, initial=setting.text(setting.default),
            )  # fmt: skip

    def system_settings(self) -> dict[str, dict[str, str]]:
        """The systems' team settings as typed, {system: {setting: text}}, to be checked."""
        found: dict[str, dict[str, str]] = {}
        for system, setting in team_settings.declared():
            text = self.cleaned_data.get(team_settings.key(system, setting), "")
            found.setdefault(system.name, {})[setting.name] = text.strip()
        return found

    def lead_names(self) -> list[str]:
        raw = self.cleaned_data.get("leads", "")
        return [name for name in raw.replace(",", " ").split() if name]

    def policy_arns(self) -> list[str]:
        raw = self.cleaned_data.get("iam_policy_arns", "")
        return [line.strip() for line in raw.splitlines() if line.strip()]


class PeopleFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100)
    team = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *Person.Status.choices])

    def __init__(self, *args, team_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "any team"), *_team_choices(team_names)]


# Days the audit log can be asked about: no event is older, and later ones overflow date maths.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    person = forms.CharField(required=False, max_length=255, label="Person (username)")
    action = forms.CharField(
        required=False,
        max_length=64,
        help_text="All or part of its name: offboard, team., step.do",
        widget=forms.TextInput(attrs={"list": "audit-actions", "autocomplete": "off"}),
    )
    outcome = forms.ChoiceField(
        required=False, choices=[("", "any outcome"), *AuditEvent.Outcome.choices]
    )
    since = forms.DateField(required=False, label="From (day)", widget=forms.DateInput(
        attrs={"type": "date"}))  # fmt: skip
    until = forms.DateField(required=False, label="To (day)", widget=forms.DateInput(
        attrs={"type": "date"}))  # fmt: skip

    def _day_check(self, name: str):
        day = self.cleaned_data.get(name)
        if day is not None and not (FIRST_DAY <= day <= LAST_DAY):
            raise forms.ValidationError(
                f"Choose a day between {FIRST_DAY:%Y-%m-%d} and {LAST_DAY:%Y-%m-%d}."
            )
        return day

    def clean_since(self):
        return self._day_check("since")

    def clean_until(self):
        return self._day_check("until")

    def audit_filter(self) -> AuditFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return AuditFilter(
            actor=data.get("actor", "").strip(),
            person=data.get("person", "").strip().lower(),
            action_contains=data.get("action", "").strip(),
            outcome=data.get("outcome", ""),
            since=data.get("since"),
            until=data.get("until"),
        )


class EnrolmentForm(forms.Form):
    """The person's own enrolment: the code proves they added the token; FreeIPA's password
    policy judges the password itself."""

    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=10,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*"}
        ),
    )
    password = forms.CharField(
        label="New password",
        help_text="FreeIPA's password policy checks it (its length, the kinds of characters); if "
        "it refuses one, this page says why. Nobody else ever sees it.",
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label="New password again",
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
