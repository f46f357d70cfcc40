"""Changing a person's name and e-mail: the system first, then the record, audited; bad input or
a system that refuses or cannot be reached changes nothing."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import InvalidInput, PermanentError, TransientError
from onboarding.models import AuditEvent, Person
from onboarding.services import person_offboard, person_update
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)


def details(username: str) -> tuple[str, str, str]:
    found = person(username)
    return (found.first_name, found.last_name, found.email)


def update_events(username: str) -> list[tuple[str, dict]]:
    events = AuditEvent.objects.filter(action="person.update", target=username).order_by("id")
    return [(event.outcome, event.details) for event in events]


def test_a_new_name_and_email_reach_the_system_then_the_record_and_only_changes_are_audited(
    fake, team
):
    onboard("ada", team)
    person_update(
        person=person("ada"), first_name=" Adele ", last_name="Example",
        email="adele@example.test", actor="admin",
    )  # fmt: skip

    account = fake.accounts["ada"]
    assert (account.first_name, account.last_name, account.email) == (
        "Adele", "Example", "adele@example.test",
    )  # fmt: skip
    assert details("ada") == ("Adele", "Example", "adele@example.test")
    assert update_events("ada") == [
        (
            "succeeded",
            {
                "first_name": {"before": "Ada", "after": "Adele"},
                "email": {"before": "ada@example.test", "after": "adele@example.test"},
            },
        )
    ]


def test_a_bad_email_is_refused_before_the_system_is_asked(fake, team):
    onboard("bea", team)
    with pytest.raises(InvalidInput, match="not a valid email address"):
        person_update(
            person=person("bea"), first_name="Bea", last_name="Example", email="bea@",
            actor="admin",
        )  # fmt: skip
    assert fake.calls["account_details_set"] == 0
    assert details("bea") == ("Ada", "Example", "bea@example.test")
    assert update_events("bea") == []


def test_a_system_that_refuses_leaves_the_record_as_it_was(fake, team):
    onboard("cai", team)
    fake.fail("account_details_set", PermanentError("fake", "mail is not allowed"))
    with pytest.raises(PermanentError, match="mail is not allowed; nothing was changed"):
        person_update(
            person=person("cai"), first_name="Cai", last_name="Example",
            email="cai@elsewhere.test", actor="admin",
        )  # fmt: skip
    assert details("cai") == ("Ada", "Example", "cai@example.test")
    [(outcome, recorded)] = update_events("cai")
    assert outcome == "failed"
    assert recorded["email"] == {"before": "cai@example.test", "after": "cai@elsewhere.test"}


def test_a_system_that_cannot_be_reached_is_said_and_nothing_changes(fake, team):
    onboard("dov", team)
    fake.reachable = False
    with pytest.raises(TransientError, match="cannot reach the fake directory"):
        person_update(
            person=person("dov"), first_name="Dov", last_name="New", email="dov@example.test",
            actor="admin",
        )  # fmt: skip
    fake.reachable = True
    assert details("dov") == ("Ada", "Example", "dov@example.test")
    assert fake.accounts["dov"].last_name == ""


def test_only_an_active_person_can_be_changed(fake, team):
    onboard("eve", team)
    person_offboard(person=person("eve"), reason="left", actor="admin")
    calls = fake.calls["account_details_set"]
    with pytest.raises(InvalidInput, match="only while they are active; they are offboarded"):
        person_update(
            person=person("eve"), first_name="Eve", last_name="Example", email="eve@example.test",
            actor="admin",
        )  # fmt: skip
    assert fake.calls["account_details_set"] == calls


def test_the_command_changes_only_what_is_given_and_refuses_bad_input_with_exit_2(
    fake, team, capsys
):
    onboard("fay", team)
    call_command("person_update", "FAY", "--last-name", "Other")
    assert "fay is now Ada Other <fay@example.test>." in capsys.readouterr().out
    assert details("fay") == ("Ada", "Other", "fay@example.test")

    for args in (("--email", "not-an-address"), ()):
        with pytest.raises(CommandError) as refused:
            call_command("person_update", "fay", *args)
        assert refused.value.returncode == 2
    assert details("fay") == ("Ada", "Other", "fay@example.test")
    assert Person.objects.get(username="fay").status == Person.Status.ACTIVE
