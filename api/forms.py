from django import forms

from api.models import ApiToken
from api.services import TOKEN_DAYS_DEFAULT, TOKEN_DAYS_MAX
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
    expires_days = forms.IntegerField(
        min_value=1, max_value=TOKEN_DAYS_MAX, initial=TOKEN_DAYS_DEFAULT,
        label="Expires after (days)",
    )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = Team.objects.order_by("name").values_list("name", flat=True)
        self.fields["team"].choices = [("", "none (an admin token)"), *((n, n) for n in names)]

    def chosen_team(self) -> Team | None:
        name = self.cleaned_data.get("team")
        return Team.objects.get(name=name) if name else None
