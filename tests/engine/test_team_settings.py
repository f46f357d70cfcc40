"""A system's own per-team settings: declared on its System class, stored per team as checked
JSON, read by its steps, and offered by the team form, `team_set`, the API and previews without
anything outside the system knowing the field."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from api.services import api_token_create
from onboarding.credentials import credential_store
from onboarding.errors import InvalidInput
from onboarding.models import AuditEvent, Credential, LifecycleRun, Team
from onboarding.services import person_onboard, team_set
from onboarding.steps import PlanStep, StepContext
from onboarding.systems import TeamSetting, names_parse, system, systems_reset, text_list
from onboarding.validation import group_name_check
from tests.engine.conftest import onboard
from tests.engine.fake import FakeSystem

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL = "django.contrib.auth.backends.ModelBackend"


def _tag_check(tag: str) -> None:
    group_name_check(tag, label="tag")


def _tags_ask(system, tags: list[str]) -> str | None:
    system.client.whoami()
    return f"{system.label} keeps no tag unknown" if "unknown" in tags else None


class TagsApply(PlanStep):
    name = "fake_tags"
    system = "fake"
    description = "Give their fake account the team's tags"

    def do(self, ctx: StepContext) -> dict:
        tags = ctx.team_setting("tags")
        ctx.client.account_set(ctx.username, tags=tags)
        return {"tags": tags}

    def check(self, ctx: StepContext) -> dict | None:
        account = ctx.client.account_find(ctx.username)
        tags = ctx.team_setting("tags")
        return {"tags": tags} if account and getattr(account, "tags", None) == tags else None

    def undo(self, ctx: StepContext) -> None:
        ctx.client.account_set(ctx.username, tags=[])


TAGS_APPLY = TagsApply()


class TaggedFakeSystem(FakeSystem):
    """The fake system with one team setting of its own, and words for the step that reads it."""

    steps = {**FakeSystem.steps, ("onboard", "cloud_role"): (TAGS_APPLY,)}
    team_settings = (
        TeamSetting(
            "tags",
            "Tags",
            "Labels every member's fake account carries, separated by commas.",
            parse=lambda value: names_parse(value, label="Tags", check=_tag_check),
            default=["everyone"],
            text=text_list,
            ask=lambda system, tags: _tags_ask(system, tags),
        ),
    )

    def login_link(self) -> tuple[str, str]:
        return ("Fake directory (your key)", "fake.example.test:7000")

    step_words = {
        "fake_tags": lambda w: f"Tag {w.username} with {text_list(w.setting('fake', 'tags'))}"
    }


@pytest.fixture
def tagged(fake, settings):
    settings.ACCESSADMIN_SYSTEMS = ["tests.engine.test_team_settings.TaggedFakeSystem"]
    systems_reset()
    return system("fake").client


def test_a_team_setting_is_checked_stored_and_read_by_the_systems_steps(tagged):
    team, created = team_set(
        name="vision", group="team-vision", system_settings={"fake": {"tags": "gpu, night"}},
        actor="admin",
    )  # fmt: skip

    run = onboard("ada", team)

    assert created and team.system_settings == {"fake": {"tags": ["gpu", "night"]}}
    assert run.state == "succeeded"
    assert tagged.accounts["ada"].tags == ["gpu", "night"]
    event = AuditEvent.objects.filter(action="team.create").latest("id")
    assert event.details["system_settings"] == {"fake": {"tags": ["gpu", "night"]}}


def test_a_team_without_the_setting_gives_its_members_the_default(tagged):
    team, _ = team_set(name="vision", group="team-vision", actor="admin")

    onboard("ada", team)

    assert team.system_settings == {}
    assert tagged.accounts["ada"].tags == ["everyone"]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"fake": {"tags": "good, no spaces!"}}, "Fake directory tags:"),
        (
            {"fake": {"colour": "blue"}},
            "There is no team setting fake.colour (settings: fake.tags)",
        ),
        ({"ldap": {"tags": "a"}}, "There is no team setting ldap.tags"),
        ({"fake": {"tags": 3}}, "give a list of names, not int"),
    ],
)
def test_a_bad_team_setting_is_refused_and_nothing_is_made(tagged, given, says):
    with pytest.raises(InvalidInput, match=says.replace("(", r"\(").replace(")", r"\)")):
        team_set(name="vision", group="team-vision", system_settings=given, actor="admin")

    assert not Team.objects.exists()
    assert not AuditEvent.objects.filter(action="team.create").exists()


def test_changing_one_setting_keeps_the_teams_other_values(tagged):
    team, _ = team_set(
        name="vision", group="team-vision", system_settings={"fake": {"tags": "a"}}, actor="admin"
    )

    team, _ = team_set(name="vision", policy_arns=[], actor="admin")

    assert team.system_settings == {"fake": {"tags": ["a"]}}


def test_team_set_takes_settings_as_system_dot_name(tagged, capsys):
    call_command("team_set", "vision", "--group", "team-vision", "--setting", "fake.tags=a,b")

    assert Team.objects.get(name="vision").system_settings == {"fake": {"tags": ["a", "b"]}}
    assert "fake.tags a, b" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("tags=a", "write it as SYSTEM.SETTING=VALUE"),
        ("fake.tags", "write it as SYSTEM.SETTING=VALUE"),
        ("fake.size=3", "There is no team setting fake.size"),
    ],
)
def test_team_set_refuses_a_bad_setting_with_exit_2(tagged, setting, says):
    with pytest.raises(CommandError) as caught:
        call_command("team_set", "vision", "--group", "team-vision", "--setting", setting)

    assert caught.value.returncode == 2
    assert says in str(caught.value)
    assert not Team.objects.exists()


@pytest.fixture
def as_admin(client, tagged):
    client.force_login(get_user_model().objects.create_superuser("root-admin", password="x"), LOCAL)
    return client


def test_the_team_form_offers_the_setting_previews_and_saves_it(as_admin):
    team, _ = team_set(name="vision", group="team-vision", actor="admin")
    form = {"freeipa_group": "team-vision", "leads": "", "iam_policy_arns": "",
            "jupyterhub.group": "", "fake.tags": "gpu"}  # fmt: skip

    page = as_admin.get("/teams/vision/").content.decode()
    preview = as_admin.post("/teams/vision/", {**form, "action": "preview"}).content.decode()
    team.refresh_from_db()
    assert "Fake directory tags" in page and "everyone" in page
    assert "What saving would change" in preview
    assert "Fake directory tags" in preview and "everyone" in preview
    assert team.system_settings == {}

    as_admin.post("/teams/vision/", {**form, "action": "save"})

    team.refresh_from_db()
    assert team.system_settings == {"fake": {"tags": ["gpu"]}}


def test_the_team_form_puts_a_bad_setting_beside_its_field_and_saves_nothing(as_admin):
    team_set(name="vision", group="team-vision", actor="admin")
    form = {"freeipa_group": "team-vision", "leads": "", "iam_policy_arns": "",
            "jupyterhub.group": "", "fake.tags": "not/a/tag", "action": "save"}  # fmt: skip

    page = as_admin.post("/teams/vision/", form).content.decode()

    assert "Fake directory tags:" in page
    assert Team.objects.get(name="vision").system_settings == {}


def test_the_onboarding_preview_uses_the_systems_words_for_its_step(as_admin):
    team_set(name="vision", group="team-vision", system_settings={"fake": {"tags": "gpu"}},
             actor="admin")  # fmt: skip

    page = as_admin.post(
        "/onboard/",
        {"username": "ada", "first_name": "Ada", "last_name": "L", "email": "ada@example.test",
         "team": "vision", "action": "preview"},
        follow=True,  # the preview is shown by a GET after the POST
    ).content.decode()  # fmt: skip

    assert "Tag ada with gpu" in page


def test_the_api_lists_each_teams_settings_with_defaults(tagged, client):
    team_set(name="vision", group="team-vision", actor="admin")
    team_set(name="nlp", group="team-nlp", system_settings={"fake": {"tags": ["x"]}}, actor="a")
    token = api_token_create(
        name="hr", role="admin", team=None, expires_days=30, owner="", actor="admin"
    )[1]

    teams = client.get("/api/v1/teams", HTTP_AUTHORIZATION=f"Bearer {token}").json()

    settings_by_team = {team["name"]: team["system_settings"] for team in teams}
    assert settings_by_team == {
        "nlp": {"fake": {"tags": ["x"]}},
        "vision": {"fake": {"tags": ["everyone"]}},
    }


def test_a_setting_the_system_refuses_or_cannot_check_is_not_saved(tagged):
    with pytest.raises(InvalidInput, match="Fake directory keeps no tag unknown"):
        team_set(name="vision", group="team-vision", system_settings={"fake": {"tags": "unknown"}},
                 actor="admin")  # fmt: skip
    tagged.reachable = False
    with pytest.raises(InvalidInput, match="Fake directory did not answer"):
        team_set(name="vision", group="team-vision", system_settings={"fake": {"tags": "gpu"}},
                 actor="admin")  # fmt: skip

    assert not Team.objects.exists()


def test_the_hand_over_sheet_says_where_to_log_in_to_the_system(as_admin):
    team, _ = team_set(name="vision", group="team-vision", actor="admin")
    admin = get_user_model().objects.get(username="root-admin")

    def hand_over() -> None:
        run = LifecycleRun.objects.get(person__username="ada")
        credential_store(run=run, kind=Credential.Kind.TEMPORARY_PASSWORD, secret="Tmp-Pass-1x")

    system("fake").client.before("account_create", hand_over)
    run = person_onboard(
        username="ada", first_name="Ada", last_name="L", email="ada@example.test", team=team,
        actor="root-admin", requested_by=admin,
    )  # fmt: skip

    page = as_admin.post(f"/runs/{run.pk}/credentials/").content.decode()

    assert "Fake directory (your key)" in page and "fake.example.test:7000" in page
