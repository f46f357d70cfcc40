"""A credential reset against the local stack: the old OTP token is gone, a new one works, and a
new expired temporary password is handed over once."""

import pytest

from onboarding.credentials import CredentialsGone, credentials_reveal
from onboarding.models import LifecycleRun, Person
from onboarding.services import person_credentials_reset
from onboarding.systems import systems_reset
from tests.lifecycle.conftest import onboard
from tests.lifecycle.observe import freeipa_login_error, otp_tokens_in_directory, totp_codes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def freeipa_only(stack_configured, settings):
    """Only FreeIPA holds credentials: the other systems would only make the test slower."""
    settings.ACCESSADMIN_SYSTEMS = ["freeipa"]
    systems_reset()
    yield
    systems_reset()


def test_reset_gives_a_new_password_and_a_new_otp_token_and_the_old_token_goes(
    eager, stack_configured, freeipa_only, team, username
):
    stack = stack_configured
    onboarded = onboard(username, team)
    assert onboarded.state == LifecycleRun.State.SUCCEEDED, onboarded.error
    old = credentials_reveal(run=onboarded, actor="admin")
    (old_token,) = otp_tokens_in_directory(stack, username)

    run = person_credentials_reset(person=Person.objects.get(username=username), actor="admin")
    run.refresh_from_db()

    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    new = credentials_reveal(run=run, actor="admin")
    with pytest.raises(CredentialsGone):
        credentials_reveal(run=run, actor="admin")
    (new_token,) = otp_tokens_in_directory(stack, username)
    assert new_token != old_token
    assert new["temporary_password"] != old["temporary_password"]
    assert new["otp_enrolment"] != old["otp_enrolment"]
    codes = iter(totp_codes(new["otp_enrolment"], 4))
    # The new password with a code of the new token: right, and expired until they choose theirs.
    assert freeipa_login_error(stack, username, new["temporary_password"] + next(codes)) == (
        "PasswordExpired"
    )
    old_code = totp_codes(old["otp_enrolment"], 1)[0]
    assert freeipa_login_error(stack, username, new["temporary_password"] + old_code) == (
        "InvalidSessionPassword"
    )
    assert Person.objects.get(username=username).status == Person.Status.ACTIVE
