"""An access review against the whole local stack: the lead confirms two members and revokes
one in the web UI; a real worker offboards exactly that one in every system, as AccessAdmin's
least-privilege FreeIPA service account; the other two keep everything."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from onboarding.models import AccessReview, AuditEvent, LifecycleRun, Person, ReviewItem
from onboarding.systems.jupyterhub.steps import team_hub_group
from tests.lifecycle.conftest import onboard, unique
from tests.lifecycle.observe import access_points, hub_user, roles
from tests.web import conftest as web

ldap_configured = web.ldap_configured  # the directory's word on who is a lead, from the stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


def wait_for(run: LifecycleRun, timeout: float = 120) -> LifecycleRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.is_active:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run #{run.pk} still {run.state} after {timeout} s")


def holds_everything(stack: dict[str, str], ipa, username: str, team) -> bool:
    user = ipa.freeipa.user_find(username=username)
    return bool(
        user is not None and not user.preserved and not user.disabled
        and team.freeipa_group in user.groups
        and len(access_points(stack, username)) == 1 and len(roles(stack, username)) == 1
        and team_hub_group(team) in (hub_user(stack, username) or {}).get("groups", [])
    )  # fmt: skip


@pytest.mark.usefixtures("ldap_configured")
def test_a_review_in_which_the_lead_revokes_one_member_offboards_exactly_that_member(
    eager, stack_configured, team, ipa, lifecycle_worker
):
    stack = stack_configured
    members = [unique("r") for _ in range(3)]
    for username in members:
        assert onboard(username, team).state == LifecycleRun.State.SUCCEEDED
    lead = User.objects.create(username=unique("lead-"))
    team.leads.add(lead)

    out = io.StringIO()
    deadline = timezone.localdate() + timedelta(days=14)
    call_command("review", "open", "--team", team.name, "--deadline", str(deadline), stdout=out)
    review = AccessReview.objects.get(team=team, state="open")
    assert "3 people" in out.getvalue()
    for item in review.items.all():
        assert {row["label"]: row["answered"] for row in item.holdings} == {
            "FreeIPA": True, "EFS": True, "IAM": True, "JupyterHub": True,
        }, item.holdings  # fmt: skip
        held = " ".join(h["detail"] for row in item.holdings for h in row["held"])
        assert team.freeipa_group in held and f"/data/{item.person.username}" in held

    from accessadmin.celery import app

    app.conf.task_always_eager = False  # the real worker runs the offboarding
    browser = Client()
    browser.force_login(lead, backend=web.LOCAL_BACKEND)
    kept, leaver = members[:2], members[2]

    def url(username: str) -> str:
        item = ReviewItem.objects.get(review=review, person__username=username)
        return f"/reviews/{review.pk}/items/{item.pk}/"

    for username in kept:
        response = browser.post(url(username), {"decision": "confirmed"})
        assert response.status_code == 302, response.content[:2000]
    # The preview is shown by a GET after the POST (post/redirect/get), as a browser follows it.
    preview = browser.post(
        url(leaver), {"decision": "revoked", "comment": "left the project"}, follow=True
    )
    assert preview.status_code == 200 and "Revoke and offboard" in preview.content.decode()
    done = browser.post(url(leaver), {
        "decision": "revoked", "comment": "left the project", "action": "revoke",
        "preview_token": preview.context["preview_token"],
    })  # fmt: skip
    assert done.status_code == 302, done.content[:2000]

    item = ReviewItem.objects.select_related("offboard_run").get(person__username=leaver)
    run = wait_for(item.offboard_run)
    assert (run.kind, run.state) == ("offboard", LifecycleRun.State.SUCCEEDED), run.error
    assert "lifecycle.run_execute" in lifecycle_worker.log()
    assert Person.objects.get(username=leaver).status == Person.Status.OFFBOARDED
    assert ipa.freeipa.user_find(username=leaver).preserved
    assert hub_user(stack, leaver) is None
    assert roles(stack, leaver) == [] and access_points(stack, leaver) == []
    for username in kept:
        assert Person.objects.get(username=username).status == Person.Status.ACTIVE
        assert holds_everything(stack, ipa, username, team), username
        assert not LifecycleRun.objects.filter(person__username=username, kind="offboard")
    assert LifecycleRun.objects.filter(kind="offboard").count() == 1

    review.refresh_from_db()
    assert review.state == AccessReview.State.CLOSED
    exported = browser.get(f"/reviews/{review.pk}/export.csv").content.decode()
    rows = {row["username"]: row for row in csv.DictReader(io.StringIO(exported))}
    assert {name: rows[name]["decision"] for name in members} == {
        **dict.fromkeys(kept, "confirmed"), leaver: "revoked",
    }  # fmt: skip
    assert {rows[name]["decided by"] for name in members} == {lead.username}
    assert rows[leaver]["offboarding run"] == str(run.pk)
    actions = set(
        AuditEvent.objects.filter(action__startswith="review.").values_list("action", flat=True)
    )
    assert actions == {"review.open", "review.decide", "review.close", "review.export"}
