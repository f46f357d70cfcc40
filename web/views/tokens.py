"""The API's tokens in the web UI, for platform admins: list, make (the secret shown once) and
revoke, through the API's own token services (the API never imports the web UI)."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api.selectors import api_tokens_list
from api.services import api_token_create, api_token_revoke
from onboarding.errors import InvalidInput
from web.permissions import admin_required
from web.token_forms import TokenForm


def _list(request: HttpRequest, form: TokenForm, status: int = 200) -> HttpResponse:
    context = {"tokens": api_tokens_list(), "form": form, "max_days": settings.API_TOKEN_MAX_DAYS}
    return render(request, "api/tokens.html", context, status=status)


@admin_required
def tokens(request: HttpRequest) -> HttpResponse:
    """Every token; a POST makes one and shows its secret this once."""
    if request.method != "POST":
        return _list(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _list(request, form)
    try:
        token, secret = api_token_create(
            name=form.cleaned_data["name"], role=form.cleaned_data["role"],
            team=form.chosen_team(), expires_days=form.cleaned_data["expires_days"],
            owner=form.cleaned_data["owner"], actor=request.user.get_username(),
            scope=form.chosen_scope(),
        )  # fmt: skip
    except InvalidInput as error:
        form.add_error(None, str(error))
        return _list(request, form)
    response = render(request, "api/token_made.html", {"token": token, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@admin_required
def token_revoke(request: HttpRequest, name: str) -> HttpResponse:
    try:
        token = api_token_revoke(name=name, actor=request.user.get_username())
    except InvalidInput as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"Token {token.name} ({token.prefix}…) is revoked: it works no more."
        )
    return redirect("api_tokens")
