"""Who counts as privileged (only a platform admin acts on them): platform admins, team leads,
members of FreeIPA's own admins group, holders of any FreeIPA role, and AccessAdmin's service
account. A lead never resets, offboards or receives the credentials of such a person, whichever
path names them (a lead's token, or an admin's token handing a reset over to a lead)."""

import pytest
from django.contrib.auth import get_user_model

from onboarding.access import person_is_privileged
from onboarding.directory import DirectoryRights, directory_powers_of
from onboarding.models import LifecycleRun
from tests.api.conftest import newcomer

pytestmark = pytest.mark.django_db(transaction=True)

GROUPS = "cn=groups,cn=accounts,dc=example,dc=test"
ROLES = "cn=roles,cn=accounts,dc=example,dc=test"


@pytest.fixture
def directory_says(monkeypatch, settings):
    """The directory is not part of these tests: it answers with the powers given per user."""
    settings.LDAP_BASE_DN = "dc=example,dc=test"
    settings.LDAP_GROUP_BASE_DN = GROUPS
    powers: dict[str, tuple[str, ...]] = {}

    def rights(username: str) -> DirectoryRights:
        return DirectoryRights(True, False, False, (), powers.get(username, ()))

    monkeypatch.setattr("onboarding.access.rights_find", rights)
    return powers


def test_freeipa_admins_and_role_holders_are_read_from_memberof(settings):
    settings.LDAP_BASE_DN = "dc=example,dc=test"
    settings.LDAP_GROUP_BASE_DN = GROUPS
    member_of = {f"cn=admins,{GROUPS}", f"cn=helpdesk,{ROLES}", f"cn=ipausers,{GROUPS}"}
    assert directory_powers_of(member_of) == ("member of FreeIPA's admins", "role helpdesk")
    assert directory_powers_of({f"cn=ipausers,{GROUPS}", f"cn=vision,{GROUPS}"}) == ()
    assert DirectoryRights(True, False, False, (), ("role helpdesk",)).privileged
    assert not DirectoryRights(True, False, False, ()).privileged


def test_the_service_account_is_privileged_whatever_the_directory_says(directory_says, settings):
    settings.FREEIPA_USERNAME = "svc-accessadmin"
    assert person_is_privileged("svc-accessadmin")
    assert not person_is_privileged("ada")


@pytest.mark.parametrize("power", ["member of FreeIPA's admins", "role helpdesk"])
def test_a_lead_token_may_not_reset_or_offboard_a_freeipa_administrator(
    hr, vision_lead, fake, team, directory_says, power
):
    assert hr.post("/onboardings", newcomer("kim")).status_code == 202
    directory_says["kim"] = (power,)
    runs = LifecycleRun.objects.count()

    reset = vision_lead.post("/credential-resets", {"username": "kim"})
    offboard = vision_lead.post("/offboardings", {"username": "kim", "reason": "left"})

    assert (reset.status_code, offboard.status_code) == (403, 403)
    assert "only a platform admin can" in reset.json()["error"]
    assert LifecycleRun.objects.count() == runs


def test_an_admins_reset_of_a_privileged_member_is_not_handed_over_to_a_lead(
    hr, fake, team, directory_says
):
    lead = get_user_model().objects.create_user("lea", email="lea@example.test")
    team.leads.add(lead)
    assert hr.post("/onboardings", newcomer("kim")).status_code == 202
    directory_says["kim"] = ("member of FreeIPA's admins",)
    runs = LifecycleRun.objects.count()

    refused = hr.post("/credential-resets", {"username": "kim", "hand_over_to": "lea"})

    assert refused.status_code == 400
    assert refused.json()["error"].startswith(
        "hand_over_to: 'lea' may not receive kim's credentials"
    )
    assert LifecycleRun.objects.count() == runs
    directory_says["kim"] = ()
    assert (
        hr.post("/credential-resets", {"username": "kim", "hand_over_to": "lea"}).status_code == 202
    )
