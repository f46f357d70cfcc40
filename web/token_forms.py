from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from api.models import ApiToken
from onboarding.models import Team


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=64,
        help_text="What it is for, such as hr-system: lower-case letters, digits, '-' or '_'. "
        "The audit log names its actions api:<name>.",
    )
    role = forms.ChoiceField(
        choices=ApiToken.Role.choices,
        help_text="An admin token acts on every team; a lead token as the lead of one team.",
    )
    team = forms.ChoiceField(required=False, help_text="The one team a lead token acts for.")
    owner = forms.CharField(
        max_length=150, required=False,
        help_text="The directory account it acts for; it stops working once they are offboarded, "
        "disabled or lose the role's rights.",
    )  # fmt: skip
    service = forms.BooleanField(
        required=False, label="A service token, owned by the platform admins instead",
    )  # fmt: skip
    scim = forms.BooleanField(
        required=False, label="A SCIM token, for an identity provider",
        help_text="Accepted at /scim/v2/ only, and refused by the REST API; its role is admin.",
    )  # fmt: skip
    expires_days = forms.IntegerField(min_value=1, label="Expires after (days)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        longest = settings.API_TOKEN_MAX_DAYS
        self.fields["expires_days"].max_value = longest
        self.fields["expires_days"].initial = longest
        self.fields["expires_days"].validators.append(MaxValueValidator(longest))
        names = Team.objects.order_by("name").values_list("name", flat=True)
        self.fields["team"].choices = [("", "none (an admin token)"), *((n, n) for n in names)]

    def clean(self) -> dict:
        cleaned = super().clean()
        owner, service = (cleaned.get("owner") or "").strip(), cleaned.get("service")
        if bool(owner) == bool(service):
            raise forms.ValidationError(
                "Name the token's owner, or make it a service token: one of the two."
            )
        cleaned["owner"] = owner
        return cleaned

    def chosen_scope(self) -> str:
        return ApiToken.Scope.SCIM if self.cleaned_data.get("scim") else ApiToken.Scope.API

    def chosen_team(self) -> Team | None:
        name = self.cleaned_data.get("team")
        return Team.objects.get(name=name) if name else None
