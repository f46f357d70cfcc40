"""Plans are composed from the enabled systems' steps, stage by stage, and checked as they are."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.exceptions import ImproperlyConfigured

from onboarding.models import LifecycleRun
from onboarding.plans import STAGES, plan_for
from onboarding.steps import PlanStep
from onboarding.systems import enabled, systems_reset
from tests.engine.fake import ACCOUNT_CREATE, KEY_ISSUE, FakeSystem

Kind = LifecycleRun.Kind


@contextmanager
def systems_enabled(settings, names: list[str]) -> Iterator[None]:
    settings.ACCESSADMIN_SYSTEMS = names
    systems_reset()
    try:
        yield
    finally:
        systems_reset()


def test_every_plan_kind_has_stages():
    assert set(STAGES) == set(Kind.values)


def test_the_default_systems_make_the_plans_of_the_readme(settings):
    with systems_enabled(settings, ["freeipa", "efs", "iam", "jupyterhub"]):
        onboard = plan_for(Kind.ONBOARD)
        assert [step.name for step in onboard.steps] == [
            "freeipa_user", "freeipa_groups", "otp_token", "efs_access_point",
            "jupyterhub_access", "iam_role",
        ]  # fmt: skip
        assert onboard.needs["freeipa_user"] == frozenset()
        assert onboard.needs["efs_access_point"] == {"freeipa_user"}
        assert onboard.needs["iam_role"] == {
            "freeipa_user", "freeipa_groups", "otp_token", "efs_access_point",
            "jupyterhub_access",
        }  # fmt: skip
        offboard = plan_for(Kind.OFFBOARD)
        assert offboard.needs["freeipa_preserve"] >= {"freeipa_disable", "iam_role_removal"}
        reinstate = plan_for(Kind.REINSTATE)
        assert reinstate.needs["freeipa_enable"] == {"freeipa_restore"}
        assert reinstate.needs["freeipa_credentials"] == {"freeipa_enable"}
        assert [s.name for s in plan_for(Kind.MOVE).steps] == [
            "freeipa_team_groups", "iam_team_policies", "jupyterhub_team_group",
        ]  # fmt: skip


def test_a_disabled_system_adds_no_steps(settings):
    with systems_enabled(settings, ["freeipa", "jupyterhub"]):
        names = [step.name for step in plan_for(Kind.ONBOARD).steps]
        assert names == ["freeipa_user", "freeipa_groups", "otp_token", "jupyterhub_access"]


def test_same_stage_needs_hold_only_in_the_plans_that_have_the_needed_step(fake):
    assert plan_for(Kind.ONBOARD).needs["fake_team"] == {"fake_account", "fake_key"}
    assert plan_for(Kind.MOVE).needs["fake_team"] == frozenset()


class Misplaced(FakeSystem):
    name = "misplaced"
    steps = {("onboard", "no_such_stage"): (ACCOUNT_CREATE,)}


class NeedsLater(FakeSystem):
    name = "needslater"

    class Early(PlanStep):
        name = "early"
        system = "needslater"
        description = "needs a step that comes after it"
        needs = ("fake_key",)

    steps = {("onboard", "account"): (Early(),), ("onboard", "access"): (KEY_ISSUE,)}


class Twice(FakeSystem):
    name = "twice"
    steps = {("onboard", "account"): (ACCOUNT_CREATE,), ("onboard", "access"): (ACCOUNT_CREATE,)}


@pytest.mark.parametrize(
    ("system_class", "message"),
    [
        ("Misplaced", "stage 'no_such_stage', which that plan does not have"),
        ("NeedsLater", "early needs ['fake_key'], which are not earlier steps"),
        ("Twice", "two steps are named 'fake_account'"),
    ],
)
def test_a_badly_built_system_is_refused_with_a_message_naming_it(settings, system_class, message):
    name = f"tests.engine.test_plans.{system_class}"
    with (
        systems_enabled(settings, [name]),
        pytest.raises(ImproperlyConfigured, match=re.escape(message)),
    ):
        plan_for(Kind.ONBOARD)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("gitlab", "'gitlab', which is not a system"),
        ("tests.engine.fake.Nowhere", "cannot load tests.engine.fake.Nowhere"),
        ("tests.engine.fake.FakeDirectory", "is not a System class"),
    ],
)
def test_an_unknown_system_name_stops_with_a_clear_message(settings, entry, message):
    with systems_enabled(settings, [entry]), pytest.raises(ImproperlyConfigured, match=message):
        enabled()


def test_a_system_named_twice_is_refused(settings):
    with (
        systems_enabled(settings, ["tests.engine.fake.FakeSystem", "tests.engine.fake.FakeSystem"]),
        pytest.raises(ImproperlyConfigured, match="names 'fake' twice"),
    ):
        enabled()
