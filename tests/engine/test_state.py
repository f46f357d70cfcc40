"""The person page's live state and cross-system facts come from the registry."""

import pytest

from onboarding.live_state import person_systems_state_within
from onboarding.steps import StepContext
from onboarding.systems import SystemState, fact
from tests.engine.conftest import onboard, person

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_enabled_system_reports_the_person_live(fake, team):
    onboard("ada", team)
    assert person_systems_state_within(person("ada"), timeout=5) == [
        SystemState("Fake directory", True, "active; team vision; keys 1")
    ]


def test_a_system_that_does_not_answer_says_so(fake, team):
    onboard("bea", team)
    fake.reachable = False
    (state,) = person_systems_state_within(person("bea"), timeout=5)
    assert (state.present, state.summary) == (None, "not answering")
    assert state.error == "fake: cannot reach the fake directory"


def test_a_fact_comes_from_the_run_first_then_from_the_system_that_provides_it(fake, team):
    onboard("cai", team)
    who = person("cai")
    assert fact("fake_account_team", who) == "vision"
    assert fact("nobody_provides_this", who) is None
    ctx = StepContext(person=who, team=team, outputs={"x": {"fake_account_team": "from-run"}})
    assert ctx.fact("fake_account_team") == "from-run"
