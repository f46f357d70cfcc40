"""Every URL and every action, as anonymous, a plain member, the lead of team A, the lead of team B
and a platform admin: who may do what, and that a refused request changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from api.models import ApiToken
from api.services import api_token_create
from onboarding.credentials import credential_store
from onboarding.models import (
    AccessReview,
    AuditEvent,
    Credential,
    Finding,
    LifecycleRun,
    Person,
    ReviewItem,
    Team,
)
from tests.factories import make_person, make_run
from tests.web.conftest import LOCAL_BACKEND, ROLES, Personas, directory_account_create, unique
from web.auth import MANAGED_GROUPS_SESSION_KEY
from web.previews import preview_token

pytestmark = [pytest.mark.django_db, pytest.mark.stack]

LOGIN = "login"  # redirected to the login page
DONE = "done"  # redirected after doing it: the world changed
FORM = "form"  # 200, the form refused the input: the world did not change


@dataclass
class World:
    personas: Personas
    person_a: Person
    person_b: Person
    offboarded_a: Person
    failed_a: LifecycleRun
    failed_b: LifecycleRun
    with_credentials_a: LifecycleRun
    stuck_a: LifecycleRun
    api_token: ApiToken
    orphan: Finding
    review_a: AccessReview
    item_a: ReviewItem
    item_b: ReviewItem

    def snapshot(self) -> dict:
        return {
            "people": sorted(
                Person.objects.values_list(
                    "username", "status", "team_id", "first_name", "last_name", "email"
                )
            ),
            "runs": sorted(LifecycleRun.objects.values_list("pk", "state", "worker")),
            "teams": sorted(Team.objects.values_list("name", "freeipa_group", "iam_policy_arns")),
            "credentials": Credential.objects.filter(ciphertext__isnull=False).count(),
            "api_tokens": sorted(ApiToken.objects.values_list("name", "revoked_at")),
            "reviews": sorted(AccessReview.objects.values_list("pk", "state")),
            "review_items": sorted(ReviewItem.objects.values_list("pk", "decision")),
        }


@pytest.fixture
def world(personas: Personas, ldap_configured, settings) -> World:
    settings.METRICS_TOKEN = "m" * 40
    team_a, team_b = personas.team_a, personas.team_b
    person_a = make_person(unique("pa"), team=team_a, status="active")
    person_b = make_person(unique("pb"), team=team_b, status="active")
    offboarded_a = make_person(unique("po"), team=team_a, status="offboarded")
    failing_a = make_person(unique("pf"), team=team_a, status="onboarding")
    failing_b = make_person(unique("pf"), team=team_b, status="onboarding")
    failed_a = make_run(failing_a, state="failed", requested_by=personas.lead_a, error="boom")
    failed_b = make_run(failing_b, state="failed", requested_by=personas.lead_b, error="boom")
    with_credentials_a = make_run(
        person_a, state="succeeded", requested_by=personas.lead_a, actor="lead-a"
    )
    credential_store(run=with_credentials_a, kind="temporary_password", secret="Temp-secret-1")
    # Held by a worker that died an hour ago.
    stuck_a = make_run(
        make_person(unique("ps"), team=team_a, status="onboarding"), state="running",
        worker="dead@host:1", heartbeat_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    api_token, _ = api_token_create(
        name=unique("hr-"), role="admin", team=None, expires_days=30, owner="", actor="cli:test"
    )
    orphan = Finding.objects.create(
        system="iam", kind="orphan", username="ghost", subject="role accessadmin-ghost",
        detail="IAM role accessadmin-ghost belongs to no person AccessAdmin knows",
    )  # fmt: skip
    # An open review of team A; team B's is closed, its item still pending.
    deadline = timezone.localdate() + timedelta(days=7)
    review_a = AccessReview.objects.create(team=team_a, deadline=deadline, actor="admin-user")
    review_b = AccessReview.objects.create(
        team=team_b, deadline=deadline, actor="admin-user", state="closed"
    )
    item_a = ReviewItem.objects.create(review=review_a, person=person_a, team=team_a)
    item_b = ReviewItem.objects.create(review=review_b, person=person_b, team=team_b)
    return World(personas, person_a, person_b, offboarded_a, failed_a, failed_b,
                 with_credentials_a, stuck_a, api_token, orphan, review_a, item_a,
                 item_b)  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str  # the URL name it exercises
    method: str
    path: Callable[[World], str]
    expected: dict[str, object]
    data: Callable[[World], dict] = field(default=lambda w: {})
    # Whether a 403 or 404 is an access denial, audited as such (an enrolment link's refusals are
    # audited as enrolment.refused: tests/lifecycle/test_enrolment.py).
    denial: bool = True


def everyone(outcome) -> dict[str, object]:
    return dict.fromkeys(ROLES, outcome)


def staff(*, member=403, lead_a=200, lead_b=200, admin=200) -> dict[str, object]:
    return {"anonymous": LOGIN, "member": member, "lead_a": lead_a, "lead_b": lead_b,
            "admin": admin}  # fmt: skip


def team_a_only(outcome_a=200, admin=None) -> dict[str, object]:
    return staff(lead_a=outcome_a, lead_b=404, admin=outcome_a if admin is None else admin)


ADMINS_ONLY = staff(lead_a=403, lead_b=403)


def onboard_data(team: Callable[[World], Team]) -> Callable[[World], dict]:
    def data(w: World) -> dict:
        fields = {
            "username": unique("new"), "first_name": "New", "last_name": "Person",
            "email": "new@example.test", "team": team(w).name,
        }  # fmt: skip
        return {**fields, "action": "onboard", "preview_token": preview_token("onboard", fields)}

    return data


def onboard_csv_data(w: World) -> dict:
    text = (
        "username,first_name,last_name,email,team\n"
        f"{unique('new')},New,Person,new@example.test,{w.personas.team_a.name}\n"
    )
    return {"action": "onboard", "csv_text": text,
            "preview_token": preview_token("onboard_csv", {"text": text})}  # fmt: skip


def previewed(kind: str, **shown: str) -> dict:
    """What a form sends after its preview: the token of exactly what was shown."""
    return {"preview_token": preview_token(kind, shown)}


def reinstate_data(w: World, team: Team) -> dict:
    shown = {"reason": "rehired", "team": team.name}
    return {**shown, "action": "reinstate",
            **previewed("reinstate", person=w.offboarded_a.username, **shown)}  # fmt: skip


def team_create_data() -> dict:
    shown = {"name": unique("made-"), "freeipa_group": unique("made-")}
    return {**shown, "jupyterhub.group": "", "leads": "", "iam_policy_arns": "",
            "action": "team_create", **previewed("team_create", **shown)}  # fmt: skip


def rollback_data(run: LifecycleRun) -> dict:
    return {
        "confirm_username": run.person.username,
        "action": "rollback",
        **previewed("rollback", run=str(run.pk)),
    }


# fmt: off
# One case per line or two, so the table reads as a table.
CASES = [
    # The world holds a stuck run, so the engine is unhealthy: web's own part answers everyone.
    Case("healthz", "get", lambda w: "/healthz?scope=web", everyone(200)),
    # The person's own enrolment link needs no login; one that matches nothing is a 404 to all.
    Case("enrol", "get", lambda w: "/enrol/no-such-link/", everyone(404), denial=False),
    # Only a scraper with the token: no login, no role, opens it.
    Case("metrics", "get", lambda w: "/metrics", everyone(401)),
    Case("login", "get", lambda w: "/login/", {**everyone(302), "anonymous": 200}),
    Case("dashboard", "get", lambda w: "/", staff()),
    Case("preflight", "get", lambda w: "/preflight/", ADMINS_ONLY),
    Case("people_list", "get", lambda w: "/people/", staff()),
    Case("person_detail", "get", lambda w: f"/people/{w.person_a.username}/", team_a_only()),
    Case("person_detail", "get", lambda w: f"/people/{w.person_b.username}/",
         staff(lead_a=404)),
    Case("person_systems", "get", lambda w: f"/people/{w.person_a.username}/systems/",
         team_a_only()),
    Case("person_update", "get", lambda w: f"/people/{w.person_a.username}/details/",
         team_a_only()),
    # person_a has no FreeIPA user: FreeIPA refuses, so even those who may change nothing.
    Case("person_update", "post", lambda w: f"/people/{w.person_a.username}/details/",
         team_a_only(),
         data=lambda w: {"first_name": "New", "last_name": "Name", "email": "n@example.test"}),
    Case("person_offboard", "get", lambda w: f"/people/{w.person_a.username}/offboard/",
         team_a_only()),
    Case("person_offboard", "post", lambda w: f"/people/{w.person_a.username}/offboard/",
         team_a_only(DONE),
         data=lambda w: {"reason": "left", "confirm_username": w.person_a.username,
                         "action": "offboard",
                         **previewed("offboard", person=w.person_a.username, reason="left")}),
    Case("person_move", "get", lambda w: f"/people/{w.person_a.username}/move/", team_a_only()),
    # Lead A may not move someone into team B: B is not among the choices.
    Case("person_move", "post", lambda w: f"/people/{w.person_a.username}/move/",
         team_a_only(FORM, admin=DONE),
         data=lambda w: {"team": w.personas.team_b.name, "action": "move",
                         **previewed("move", person=w.person_a.username,
                                     team=w.personas.team_b.name)}),
    Case("person_reinstate", "get", lambda w: f"/people/{w.offboarded_a.username}/reinstate/",
         team_a_only()),
    Case("person_reinstate", "post", lambda w: f"/people/{w.offboarded_a.username}/reinstate/",
         team_a_only(DONE), data=lambda w: reinstate_data(w, w.personas.team_a)),
    # Lead A may not bring them back into team B: B is not among the choices.
    Case("person_reinstate", "post", lambda w: f"/people/{w.offboarded_a.username}/reinstate/",
         team_a_only(FORM, admin=DONE), data=lambda w: reinstate_data(w, w.personas.team_b)),
    Case("person_credentials_reset", "get",
         lambda w: f"/people/{w.person_a.username}/reset-credentials/", team_a_only()),
    Case("person_credentials_reset", "post",
         lambda w: f"/people/{w.person_a.username}/reset-credentials/", team_a_only(DONE)),
    Case("onboard", "get", lambda w: "/onboard/", staff()),
    Case("onboard", "post", lambda w: "/onboard/", staff(lead_a=DONE, lead_b=FORM, admin=DONE),
         data=onboard_data(lambda w: w.personas.team_a)),
    Case("onboard_csv", "get", lambda w: "/onboard/csv/", staff()),
    # Lead B's file names team A: refused row by row, nothing started.
    Case("onboard_csv", "post", lambda w: "/onboard/csv/",
         staff(lead_a=DONE, lead_b=FORM, admin=DONE), data=onboard_csv_data),
    Case("onboard_csv_template", "get", lambda w: "/onboard/csv/template.csv", staff()),
    # A lead's copy of a file naming another team says so beside the row; nothing is made.
    Case("onboard_csv_annotated", "post", lambda w: "/onboard/csv/problems.csv", staff(),
         data=onboard_csv_data),
    Case("onboard_csv_annotated", "get", lambda w: "/onboard/csv/problems.csv", everyone(405)),
    Case("runs_bulk", "get", lambda w: f"/runs/bulk/?runs={w.failed_a.pk},{w.failed_b.pk}",
         staff()),
    # Listed with a reason instead of a sheet when not the asker's to reveal: never an error page.
    Case("runs_bulk_credentials", "post", lambda w: "/runs/bulk/credentials/",
         staff(lead_a=DONE), data=lambda w: {"runs": f"{w.with_credentials_a.pk},x"}),
    Case("runs_bulk_credentials", "get",
         lambda w: f"/runs/bulk/credentials/?runs={w.with_credentials_a.pk}",
         staff(lead_a=302, lead_b=302, admin=302)),
    Case("run_detail", "get", lambda w: f"/runs/{w.failed_a.pk}/", team_a_only()),
    Case("run_detail", "get", lambda w: f"/runs/{w.failed_b.pk}/", staff(lead_a=404)),
    Case("run_live", "get", lambda w: f"/runs/{w.failed_a.pk}/live/", team_a_only()),
    Case("run_resume", "post", lambda w: f"/runs/{w.failed_a.pk}/resume/",
         team_a_only(403, admin=DONE)),
    Case("run_resume", "get", lambda w: f"/runs/{w.failed_a.pk}/resume/", everyone(405)),
    Case("run_rollback", "get", lambda w: f"/runs/{w.failed_a.pk}/rollback/",
         team_a_only(403, admin=200)),
    Case("run_rollback", "post", lambda w: f"/runs/{w.failed_a.pk}/rollback/",
         team_a_only(403, admin=DONE), data=lambda w: rollback_data(w.failed_a)),
    Case("run_rollback", "post", lambda w: f"/runs/{w.failed_b.pk}/rollback/",
         staff(lead_a=404, lead_b=403, admin=DONE), data=lambda w: rollback_data(w.failed_b)),
    Case("run_requeue", "post", lambda w: f"/runs/{w.stuck_a.pk}/requeue/",
         team_a_only(403, admin=DONE)),
    # Only whoever asked for the run sees its secrets: not even an admin.
    Case("run_credentials", "post", lambda w: f"/runs/{w.with_credentials_a.pk}/credentials/",
         team_a_only(DONE, admin=403)),
    Case("run_credentials", "get", lambda w: f"/runs/{w.with_credentials_a.pk}/credentials/",
         team_a_only(302)),
    Case("team_list", "get", lambda w: "/teams/", ADMINS_ONLY),
    Case("team_members_apply", "post", lambda w: f"/teams/{w.personas.team_a.name}/apply/",
         staff(lead_a=403, lead_b=403, admin=DONE)),
    Case("team_members_apply", "get", lambda w: f"/teams/{w.personas.team_a.name}/apply/",
         staff(lead_a=403, lead_b=403, admin=405)),
    Case("team_create", "get", lambda w: "/teams/new/", ADMINS_ONLY),
    Case("team_create", "post", lambda w: "/teams/new/", staff(lead_a=403, lead_b=403,
         admin=DONE), data=lambda w: team_create_data()),
    Case("team_edit", "get", lambda w: f"/teams/{w.personas.team_a.name}/", ADMINS_ONLY),
    Case("team_edit", "post", lambda w: f"/teams/{w.personas.team_a.name}/",
         staff(lead_a=403, lead_b=403, admin=DONE),
         data=lambda w: {"freeipa_group": w.personas.team_a.freeipa_group, "leads": "",
                         "iam_policy_arns": "arn:aws:iam::aws:policy/AWSBatchFullAccess",
                         "jupyterhub.group": "", "action": "save"}),
    Case("reconcile", "get", lambda w: "/reconcile/", ADMINS_ONLY),
    # A pass is queued and audited; what it finds is the worker's to store.
    Case("reconcile_check", "post", lambda w: "/reconcile/check/",
         staff(lead_a=403, lead_b=403, admin=302)),
    Case("reconcile_check", "get", lambda w: "/reconcile/check/", everyone(405)),
    Case("person_repair", "post", lambda w: f"/reconcile/repair/{w.person_a.username}/",
         staff(lead_a=403, lead_b=403, admin=DONE),
         data=lambda w: {"action": "repair",
                         **previewed("repair", person=w.person_a.username)}),
    # The preview, asked of each system; nothing changes.
    Case("person_repair", "get", lambda w: f"/reconcile/repair/{w.person_a.username}/",
         staff(lead_a=403, lead_b=403, admin=200)),
    # An admin who mistypes the owner's name, or names no team, is told so and nothing changes.
    Case("orphan_remove", "post", lambda w: f"/reconcile/orphans/{w.orphan.pk}/remove/",
         staff(lead_a=403, lead_b=403, admin=302), data=lambda w: {"confirm": "ghost-typo"}),
    Case("orphan_remove", "get", lambda w: f"/reconcile/orphans/{w.orphan.pk}/remove/",
         everyone(405)),
    Case("orphan_adopt", "post", lambda w: f"/reconcile/orphans/{w.orphan.pk}/adopt/",
         staff(lead_a=403, lead_b=403, admin=302), data=lambda w: {"team": ""}),
    Case("orphan_adopt", "get", lambda w: f"/reconcile/orphans/{w.orphan.pk}/adopt/",
         everyone(405)),
    Case("audit_log", "get", lambda w: "/audit/?outcome=denied", ADMINS_ONLY),
    Case("audit_export", "get", lambda w: "/audit/export.csv", ADMINS_ONLY),
    Case("audit_export_json", "get", lambda w: "/audit/export.json", ADMINS_ONLY),
    Case("audit_verify", "get", lambda w: "/audit/verify/", ADMINS_ONLY),
    Case("audit_verify", "post", lambda w: "/audit/verify/", ADMINS_ONLY),
    Case("api_tokens", "get", lambda w: "/api-tokens/", ADMINS_ONLY),
    Case("api_tokens", "post", lambda w: "/api-tokens/", staff(lead_a=403, lead_b=403,
         admin=DONE), data=lambda w: {"name": unique("made-"), "role": "admin", "team": "",
                                      "expires_days": "7", "service": "on"}),
    Case("api_token_revoke", "post", lambda w: f"/api-tokens/{w.api_token.name}/revoke/",
         staff(lead_a=403, lead_b=403, admin=DONE)),
    Case("api_token_revoke", "get", lambda w: f"/api-tokens/{w.api_token.name}/revoke/",
         everyone(405)),
    Case("review_list", "get", lambda w: "/reviews/", staff()),
    Case("review_create", "get", lambda w: "/reviews/new/", ADMINS_ONLY),
    Case("review_create", "post", lambda w: "/reviews/new/",
         staff(lead_a=403, lead_b=403, admin=DONE),
         data=lambda w: {"team": w.personas.team_b.name,
                         "deadline": timezone.localdate() + timedelta(days=3)}),
    Case("review_detail", "get", lambda w: f"/reviews/{w.review_a.pk}/", team_a_only()),
    Case("review_decide", "post",
         lambda w: f"/reviews/{w.review_a.pk}/items/{w.item_a.pk}/", team_a_only(DONE),
         data=lambda w: {"decision": "confirmed"}),
    # Only the GET a revoke's preview was redirected to shows anything.
    Case("review_decide", "get",
         lambda w: f"/reviews/{w.review_a.pk}/items/{w.item_a.pk}/",
         staff(lead_a=405, lead_b=405, admin=405)),
    # Team B's item forged into team A's review: not found, for everyone.
    Case("review_decide", "post",
         lambda w: f"/reviews/{w.review_a.pk}/items/{w.item_b.pk}/", team_a_only(404),
         data=lambda w: {"decision": "revoked", "comment": "x", "action": "revoke"}),
    Case("review_confirm_all", "get", lambda w: f"/reviews/{w.review_a.pk}/confirm-remaining/",
         team_a_only()),
    # Without the token of its preview, nothing is confirmed.
    Case("review_confirm_all", "post",
         lambda w: f"/reviews/{w.review_a.pk}/confirm-remaining/", team_a_only(400),
         data=lambda w: {"action": "review_confirm_all"}),
    Case("review_close", "post", lambda w: f"/reviews/{w.review_a.pk}/close/",
         staff(lead_a=403, lead_b=403, admin=DONE)),
    Case("review_close", "get", lambda w: f"/reviews/{w.review_a.pk}/close/", everyone(405)),
    Case("review_export", "get", lambda w: f"/reviews/{w.review_a.pk}/export.csv",
         team_a_only()),
    Case("review_print", "get", lambda w: f"/reviews/{w.review_a.pk}/print/", team_a_only()),
]
# fmt: on


def test_every_url_of_the_site_is_walked():
    def names(patterns) -> set[str]:
        found = set()
        for pattern in patterns:
            # The REST API and SCIM answer bearer tokens, not sessions: tests/api and tests/scim
            # walk them.
            if isinstance(pattern, URLResolver) and str(pattern.pattern).startswith(
                ("api/", "scim/")
            ):
                continue
            if isinstance(pattern, URLResolver):
                found |= names(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found.add(pattern.name)
        return found

    assert names(get_resolver().url_patterns) - {"logout"} == {case.name for case in CASES}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "case", CASES, ids=[f"{case.method}-{case.name}-{i}" for i, case in enumerate(CASES)]
)
def test_who_may_do_what(client, world: World, case: Case, role: str):
    user = world.personas.user(role)
    if user is not None:
        client.force_login(user, backend=LOCAL_BACKEND)
    before = world.snapshot()
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = getattr(client, case.method)(case.path(world), case.data(world))

    expected = case.expected[role]
    after = world.snapshot()
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
    elif expected == DONE:
        assert response.status_code in (200, 302), response.content[:2000]
        assert after != before, "the action was allowed but changed nothing"
    elif expected == FORM:
        assert response.status_code == 200
        page = response.content.decode()
        # A team outside the user's is not offered (one form) or is refused row by row (a file).
        assert "Select a valid choice" in page or "you may not onboard into team" in page
    else:
        assert response.status_code == expected, response.content[:2000]
    if expected != DONE:
        assert after == before, "a request that was not allowed to change anything did"
    if expected in (403, 404) and case.denial:
        denial = AuditEvent.objects.filter(id__gt=last_event, action="access.denied")
        assert denial.filter(actor=user.username, outcome="denied").exists()


def test_revealed_credentials_are_shown_to_the_requester_once(client, world: World):
    client.force_login(world.personas.lead_a, backend=LOCAL_BACKEND)
    url = f"/runs/{world.with_credentials_a.pk}/credentials/"

    first = client.post(url)
    second = client.post(url, follow=True)

    assert first.status_code == 200
    assert "Temp-secret-1" in first.content.decode()
    assert first["Cache-Control"] == "no-store"
    assert "Temp-secret-1" not in second.content.decode()
    assert "already revealed or have expired" in second.content.decode()


# Rights lost mid-session: the directory's word counts on the very next request.
LOST_RIGHTS = {"offboarded_lead": "anonymous", "lead_removed": "member", "admin_removed": "member"}


@pytest.fixture(scope="session")
def lost_rights_accounts(ldap_configured) -> dict[str, str]:
    """Directory accounts that hold no rights in the directory (any more)."""
    return {
        role: directory_account_create(ldap_configured, role.split("_")[0][:4] + "-").username
        for role in LOST_RIGHTS
    }


def lost_rights_login(client, world: World, role: str, username: str) -> User:
    user = User.objects.create(username=username)
    team_a = world.personas.team_a
    if role == "offboarded_lead":
        team_a.leads.add(user)
        make_person(username, team=team_a, status="offboarding")
    if role == "admin_removed":
        user.groups.add(Group.objects.get_or_create(name=settings.LDAP_ADMIN_GROUP)[0])
    client.force_login(user, backend="web.auth.DirectoryBackend")
    if role == "lead_removed":
        session = client.session
        session[MANAGED_GROUPS_SESSION_KEY] = [team_a.freeipa_group]  # as their login found
        session.save()
    return user


@pytest.mark.parametrize("role", LOST_RIGHTS)
@pytest.mark.parametrize(
    "case", CASES, ids=[f"{case.method}-{case.name}-{i}" for i, case in enumerate(CASES)]
)
def test_who_may_do_what_after_losing_rights_mid_session(
    client, world: World, case: Case, role: str, lost_rights_accounts
):
    user = lost_rights_login(client, world, role, lost_rights_accounts[role])
    before = world.snapshot()
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = getattr(client, case.method)(case.path(world), case.data(world))

    after = world.snapshot()
    assert after == before, "a request that was not allowed to change anything did"
    if role == "offboarded_lead":
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
        return
    expected = case.expected[LOST_RIGHTS[role]]
    if expected == LOGIN:
        assert response.status_code == 302
    else:
        assert response.status_code == expected, response.content[:2000]
    if expected in (403, 404) and case.denial:
        denial = AuditEvent.objects.filter(id__gt=last_event, action="access.denied")
        assert denial.filter(actor=user.username, outcome="denied").exists()
