"""The team form: everything wrong is said at once, beside its field, and nothing is made."""

from __future__ import annotations

import html
import re

import pytest

from onboarding.models import Team
from onboarding.systems import clients
from onboarding.systems.jupyterhub.steps import team_hub_group
from tests.factories import make_person
from tests.web.conftest import unique

pytestmark = [pytest.mark.django_db, pytest.mark.stack]

READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<div class="error" id="id_{field}_error">(.*?)</div>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def test_a_new_team_with_many_problems_shows_them_all_beside_their_fields_and_makes_nothing(
    as_admin,
):
    name, group = unique("team-"), unique("group-")
    ghost_one, ghost_two = unique("ghost"), unique("ghost")
    missing = f"arn:aws:iam::aws:policy/{unique('Missing')}"

    response = as_admin.post("/teams/new/", {
        "name": name, "freeipa_group": group, "leads": f"{ghost_one}, {ghost_two}",
        "iam_policy_arns": f"{READ_ONLY}\n{missing}\nnot-an-arn", "jupyterhub.group": "Bad Name",
    })  # fmt: skip

    page = response.content.decode()
    assert response.status_code == 200
    leads = error_beside(page, "leads")
    assert f"{ghost_one} is not a FreeIPA user." in leads
    assert f"{ghost_two} is not a FreeIPA user." in leads
    policies = error_beside(page, "iam_policy_arns")
    assert f"{missing} does not exist in IAM." in policies
    assert "'not-an-arn' is not an IAM policy ARN." in policies
    assert READ_ONLY not in policies
    assert "JupyterHub group: Group 'Bad Name' may only" in error_beside(page, "jupyterhub.group")
    assert "Fix 3 things below; nothing was changed" in page
    assert 'aria-describedby="id_leads_helptext id_leads_error"' in page
    assert 'id="preview"' not in page
    assert not Team.objects.filter(name=name).exists()
    assert clients().freeipa.group_find(name=group) is None


def new_team_fields(name: str, **changed: str) -> dict[str, str]:
    return {"name": name, "freeipa_group": name, "leads": "", "iam_policy_arns": READ_ONLY,
            "jupyterhub.group": name, **changed}  # fmt: skip


def previewed_page(client, fields: dict[str, str]) -> str:
    """The new team's preview, read as a browser reads it: after the redirect."""
    response = client.post("/teams/new/", {**fields, "action": "preview"})
    assert response.status_code == 302
    assert "?preview=" in response["Location"]
    return client.get(response["Location"]).content.decode()


def preview_token_in(page: str) -> str:
    return re.search(r'name="preview_token" value="([^"]+)"', page)[1]


def test_a_new_team_is_previewed_in_plain_words_then_created(as_admin, stack_configured):
    name = unique("team-")

    page = previewed_page(as_admin, new_team_fields(name))

    preview = html.unescape(page.split('id="preview"')[1])
    assert f"What creating team {name} would make" in preview
    assert f"everyone onboarded into {name} joins it" in preview
    assert f"nobody leads {name}" in preview
    assert "each member's IAM role gets these policies" in preview
    assert f"people onboarded into {name} get {name}" in preview  # the hub group setting
    assert not Team.objects.filter(name=name).exists()
    assert clients().freeipa.group_find(name=name) is None

    response = as_admin.post("/teams/new/", {
        **new_team_fields(name), "action": "team_create", "preview_token": preview_token_in(page),
    })  # fmt: skip

    assert response.status_code == 302
    assert Team.objects.get(name=name).iam_policy_arns == [READ_ONLY]
    assert clients().freeipa.group_find(name=name) is not None


def test_a_new_team_changed_after_its_preview_is_not_made_until_previewed_again(
    as_admin, stack_configured
):
    name = unique("team-")
    token = preview_token_in(previewed_page(as_admin, new_team_fields(name)))
    other_group = unique("group-")

    response = as_admin.post("/teams/new/", {
        **new_team_fields(name, freeipa_group=other_group), "action": "team_create",
        "preview_token": token,
    })  # fmt: skip

    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "This is not what the preview showed" in page
    assert f"{other_group}" in page.split('id="preview"')[1]
    assert not Team.objects.filter(name=name).exists()
    assert clients().freeipa.group_find(name=other_group) is None
    assert clients().freeipa.group_find(name=name) is None


def test_a_new_team_without_a_preview_token_is_not_made(as_admin, stack_configured):
    name = unique("team-")

    response = as_admin.post("/teams/new/", {**new_team_fields(name), "action": "team_create"})

    assert response.status_code == 200
    assert "This is not what the preview showed" in html.unescape(response.content.decode())
    assert not Team.objects.filter(name=name).exists()


def test_a_team_change_to_a_policy_that_does_not_exist_is_refused_before_the_preview(
    as_admin, personas
):
    team = personas.team_a
    missing = f"arn:aws:iam::aws:policy/{unique('Missing')}"

    response = as_admin.post(f"/teams/{team.name}/", {
        "freeipa_group": team.freeipa_group, "leads": "", "iam_policy_arns": missing,
        "jupyterhub.group": team_hub_group(team), "action": "save",
    })  # fmt: skip

    assert f"{missing} does not exist in IAM." in error_beside(
        response.content.decode(), "iam_policy_arns"
    )
    team.refresh_from_db()
    assert team.iam_policy_arns == [READ_ONLY]


def test_a_team_page_lists_its_members(as_admin, personas):
    member = make_person(unique("m"), team=personas.team_a, status="active")

    page = as_admin.get(f"/teams/{personas.team_a.name}/").content.decode()

    assert f'href="/people/{member.username}/"' in page
    assert "(1 person)" in page
