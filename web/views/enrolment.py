"""The person's own enrolment page (`/enrol/<token>/`): no login, the link is the key.

Every answer is `no-store`: the page shows the person's OTP key. A token that matches no link, or
a wrong code, is audited with the address it came from, and an address with too many of them
is refused for a while, so links cannot be guessed. A completed enrolment redirects back to the
link, which then says it was used: Back or reload never sends the form again.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_protect

from onboarding.enrolment.models import Enrolment
from onboarding.enrolment.service import (
    EnrolmentRefused,
    EnrolmentUnavailable,
    enrolment_closed_message,
    enrolment_complete,
    enrolment_find,
    enrolment_guessing,
    enrolment_refusal_record,
    enrolment_secrets,
)
from web.auth import client_address
from web.forms import EnrolmentForm
from web.views.runs import qr_data_uri

TEMPLATE = "web/enrol.html"


@csrf_protect
def enrol(request: HttpRequest, token: str) -> HttpResponse:
    response = _enrol(request, token)
    patch_cache_control(response, no_store=True)
    # The token is in the address: never sent to another site (no-referrer would make the
    # browser send "Origin: null" with the form, which CSRF protection refuses).
    response["Referrer-Policy"] = "same-origin"
    return response


def _enrol(request: HttpRequest, token: str) -> HttpResponse:
    address = client_address(request)
    if enrolment_guessing(address):
        return _closed(
            request, 429, "Too many tries",
            "Too many wrong links or codes came from your network. Wait a quarter of an hour, "
            "then open the link from your e-mail again.",
        )  # fmt: skip
    enrolment = enrolment_find(token)
    if enrolment is None:
        enrolment_refusal_record(address=address, reason="no such link")
        return _closed(
            request, 404, "This link does not work",
            "Check that you opened the whole link from your e-mail, or ask your team lead or an "
            "admin for a new one.",
        )  # fmt: skip
    if enrolment.state != Enrolment.State.OPEN:
        used = enrolment.state == Enrolment.State.USED
        title = "Your login is set up" if used else "This link no longer works"
        return _closed(request, 200 if used else 410, title, enrolment_closed_message(enrolment))
    form = EnrolmentForm(request.POST or None)
    problem = ""
    if request.method == "POST" and form.is_valid():
        try:
            enrolment_complete(
                enrolment=enrolment, code=form.cleaned_data["code"],
                password=form.cleaned_data["password"],
                password_again=form.cleaned_data["password_again"], address=address,
            )  # fmt: skip
        except EnrolmentRefused as refusal:
            if refusal.field:
                form.add_error(refusal.field, str(refusal))
            else:
                problem = str(refusal)
        except EnrolmentUnavailable as failure:
            problem = str(failure)
        else:
            return redirect("enrol", token=token)
    try:
        shown = enrolment_secrets(enrolment)
    except (EnrolmentRefused, EnrolmentUnavailable) as gone:
        return _closed(request, 410, "This link no longer works", str(gone))
    context = {
        "person": enrolment.person,
        "form": form,
        "problem": problem,
        "otp_qr": qr_data_uri(shown.otp_uri),
        "otp_key": " ".join(shown.otp_key[i : i + 4] for i in range(0, len(shown.otp_key), 4)),
        "expires_at": enrolment.expires_at,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, TEMPLATE, context, status=status)


def _closed(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(request, TEMPLATE, {"closed": title, "message": message}, status=status)
