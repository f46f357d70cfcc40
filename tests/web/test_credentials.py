"""The reveal page is a hand-over sheet; the credentials address opened directly explains
itself instead of answering 405."""

from __future__ import annotations

import pytest

from onboarding.credentials import credential_store
from onboarding.models import Credential
from tests.factories import make_person, make_run
from tests.web.conftest import unique

pytestmark = [pytest.mark.django_db, pytest.mark.stack]

OTP_URI = "otpauth://totp/EXAMPLE.TEST:ada?secret=JBSWY3DPEHPK3PXPJBSW&issuer=EXAMPLE.TEST"


@pytest.fixture
def onboarded(personas):
    person = make_person(unique("ada"), team=personas.team_a, status="active")
    run = make_run(person, state="succeeded", requested_by=personas.lead_a, actor="lead-a")
    credential_store(run=run, kind=Credential.Kind.TEMPORARY_PASSWORD, secret="Temp-secret-1")
    credential_store(run=run, kind=Credential.Kind.OTP_ENROLMENT, secret=OTP_URI)
    return run


def test_the_credentials_address_opened_directly_leads_to_the_run_and_reveals_nothing(
    as_lead_a, onboarded
):
    response = as_lead_a.get(f"/runs/{onboarded.pk}/credentials/", follow=True)

    page = response.content.decode()
    assert response.redirect_chain == [(f"/runs/{onboarded.pk}/", 302)]
    assert "nothing was revealed by opening that address" in page
    assert "Temp-secret-1" not in page
    assert onboarded.credentials.filter(ciphertext__isnull=False).count() == 2


def test_the_revealed_credentials_are_a_hand_over_sheet(as_lead_a, onboarded):
    page = as_lead_a.post(f"/runs/{onboarded.pk}/credentials/").content.decode()

    username = onboarded.person.username
    assert f'<code id="handover-username">{username}</code>' in page
    assert 'data-copy="temporary-password"' in page
    assert '<code id="otp-secret">JBSW Y3DP EHPK 3PXP JBSW</code>' in page
    assert "data-print" in page
    assert "At your first login" in page
