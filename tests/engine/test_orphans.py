"""An orphan reconciliation found, removed or adopted by an admin, against the fake system:
checked against what the system holds now, refused clearly when it cannot be done, audited."""

import pytest

from onboarding.errors import InvalidInput, PermanentError
from onboarding.models import AuditEvent, Finding, LifecycleRun, Person
from onboarding.services import reconcile
from onboarding.services.orphans import orphan_adopt, orphan_get, orphan_remove
from tests.engine.conftest import onboard
from tests.engine.fake import Account
from tests.factories import make_person

pytestmark = pytest.mark.django_db(transaction=True)


def orphan_of(fake, username: str, **fields) -> Finding:
    fake.accounts[username] = Account(username, "vision", keys=1, **fields)
    (finding,) = [f for f in reconcile(actor="beat") if f.kind == Finding.Kind.ORPHAN]
    return finding


def test_a_removed_orphan_is_gone_from_its_system_settled_and_audited(fake, team):
    onboard("hal", team)
    finding = orphan_of(fake, "zed")

    orphan_remove(finding=finding, actor="root")

    assert "zed" not in fake.accounts and "hal" in fake.accounts
    finding.refresh_from_db()
    assert finding.resolved_at is not None
    event = AuditEvent.objects.get(action="orphan.remove")
    assert (event.actor, event.target, event.outcome) == ("root", "zed", "succeeded")
    assert [f.kind for f in reconcile(actor="beat")] == []


def test_an_orphan_the_system_no_longer_holds_is_settled_and_nothing_is_removed(fake, team):
    finding = orphan_of(fake, "zed")
    del fake.accounts["zed"]
    fake.accounts["amy"] = Account("amy", "vision")

    with pytest.raises(InvalidInput, match="no longer in Fake directory"):
        orphan_remove(finding=finding, actor="root")

    assert "amy" in fake.accounts
    with pytest.raises(InvalidInput, match="was settled on"):
        orphan_get(finding.pk)
    assert fake.calls["account_delete"] == 0


def test_a_system_that_refuses_or_is_down_removes_nothing_and_says_so(fake, team):
    finding = orphan_of(fake, "zed")
    fake.fail("account_delete", PermanentError("fake", "not tagged managed-by=accessadmin"))

    with pytest.raises(InvalidInput, match=r"refused to remove account zed: .*not tagged"):
        orphan_remove(finding=finding, actor="root")

    assert "zed" in fake.accounts
    assert orphan_get(finding.pk).resolved_at is None
    assert AuditEvent.objects.get(action="orphan.remove").outcome == "failed"
    fake.reachable = False
    with pytest.raises(InvalidInput, match="could not be asked what it holds now"):
        orphan_remove(finding=finding, actor="root")
    assert "zed" in fake.accounts


def test_an_adopted_orphan_becomes_a_person_of_the_team_and_a_repair_run_completes_them(fake, team):
    finding = orphan_of(fake, "zed", first_name="Zed", last_name="Ray", email="zed@example.test")

    run = orphan_adopt(finding=finding, team=team, actor="root")

    run.refresh_from_db()
    person = Person.objects.get(username="zed")
    assert (person.full_name, person.email, person.team, person.status) == (
        "Zed Ray", "zed@example.test", team, Person.Status.ACTIVE,
    )  # fmt: skip
    assert (run.kind, run.state) == (LifecycleRun.Kind.REPAIR, LifecycleRun.State.SUCCEEDED)
    assert AuditEvent.objects.filter(action="orphan.adopt", target="zed", actor="root").exists()
    assert reconcile(actor="beat") == []


def test_adoption_is_refused_for_a_disabled_account_a_known_person_or_an_unusable_name(
    fake, team, other_team
):
    disabled = orphan_of(fake, "zed")
    # Disabled between the pass and the adoption (the fake's inventory lists only enabled ones).
    fake.before("account_find", lambda: setattr(fake.accounts["zed"], "disabled", True))
    with pytest.raises(InvalidInput, match="account is disabled or preserved"):
        orphan_adopt(finding=disabled, team=team, actor="root")

    taken = orphan_of(fake, "amy")
    make_person("amy", team=team, status="active")
    with pytest.raises(InvalidInput, match="is a person AccessAdmin knows now"):
        orphan_adopt(finding=taken, team=team, actor="root")

    reserved = orphan_of(fake, "admin")
    with pytest.raises(InvalidInput, match="reserved"):
        orphan_adopt(finding=reserved, team=other_team, actor="root")

    assert sorted(Person.objects.values_list("username", flat=True)) == ["amy"]
    assert not AuditEvent.objects.filter(action="orphan.adopt").exists()
    assert not LifecycleRun.objects.exists()


def test_only_an_open_orphan_is_acted_on(fake, team):
    onboard("hal", team)
    del fake.accounts["hal"]
    (missing,) = reconcile(actor="beat")

    with pytest.raises(InvalidInput, match=f"There is no orphan #{missing.pk}"):
        orphan_get(missing.pk)
    with pytest.raises(InvalidInput, match="There is no orphan #999999"):
        orphan_get(999999)


# The reconcile page's buttons. A local account: the directory is not part of these tests.
LOCAL = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def as_admin(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("root", password="x"), LOCAL)
    return client


def test_the_page_removes_an_orphan_only_once_its_owners_name_is_typed(fake, team, as_admin):
    finding = orphan_of(fake, "zed")
    page = as_admin.get("/reconcile/").content.decode()
    assert f'action="/reconcile/orphans/{finding.pk}/remove/"' in page
    assert f'action="/reconcile/orphans/{finding.pk}/adopt/"' in page

    mistyped = as_admin.post(
        f"/reconcile/orphans/{finding.pk}/remove/", {"confirm": "zeb"}, follow=True
    )
    assert "Type zed to confirm removing account zed; nothing was removed." in (
        mistyped.content.decode()
    )
    assert "zed" in fake.accounts

    removed = as_admin.post(
        f"/reconcile/orphans/{finding.pk}/remove/", {"confirm": "zed"}, follow=True
    )
    assert "account zed (zed) is removed." in removed.content.decode()
    assert "zed" not in fake.accounts
    remove = f"/reconcile/orphans/{finding.pk}/remove/"
    again = as_admin.post(remove, {"confirm": "zed"}, follow=True)
    assert "was settled on" in again.content.decode()


def test_the_page_adopts_an_orphan_into_a_team_and_shows_the_repair_run(fake, team, as_admin):
    finding = orphan_of(fake, "zed", first_name="Zed", last_name="Ray", email="zed@example.test")

    unknown = as_admin.post(
        f"/reconcile/orphans/{finding.pk}/adopt/", {"team": "no-such"}, follow=True
    )
    assert "There is no team &#x27;no-such&#x27;" in unknown.content.decode()
    assert not Person.objects.filter(username="zed").exists()

    adopted = as_admin.post(f"/reconcile/orphans/{finding.pk}/adopt/", {"team": "vision"})

    run = LifecycleRun.objects.get(person__username="zed")
    assert adopted.url == f"/runs/{run.pk}/"
    assert run.requested_by.username == "root"


def orphan_command(*args) -> tuple[int, str]:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    try:
        call_command("orphan", *args, stdout=out)
    except CommandError as error:
        return error.returncode, str(error)
    return 0, out.getvalue()


def test_the_command_lists_removes_with_confirmation_and_adopts(fake, team):
    zed = orphan_of(fake, "zed")
    assert orphan_command("list") == (0, f"#{zed.pk:<6} fake       {zed.detail}\n")

    assert orphan_command("remove", str(zed.pk), "--confirm", "zeb") == (
        2, "--confirm 'zeb' is not the orphan's owner (zed); nothing was removed.",
    )  # fmt: skip
    assert "zed" in fake.accounts
    assert orphan_command("remove", str(zed.pk), "--confirm", "zed")[0] == 0
    assert "zed" not in fake.accounts
    assert orphan_command("list") == (0, "No open orphans.\n")

    amy = orphan_of(fake, "amy", email="amy@example.test")
    code, out = orphan_command("adopt", str(amy.pk), "--team", "nobody")
    assert code == 2 and "There is no team 'nobody'" in out
    code, out = orphan_command("adopt", str(amy.pk), "--team", "vision", "--wait")
    assert code == 0, out
    assert "amy is a person of team vision now." in out and "succeeded" in out
    assert orphan_command("remove", "999999", "--confirm", "x")[0] == 2


@pytest.mark.parametrize("power", [(), ("member of FreeIPA's admins",)])
def test_adopting_an_administrator_in_freeipa_warns_that_leads_cannot_act_on_them(
    fake, team, as_admin, monkeypatch, power
):
    from onboarding.directory import DirectoryRights

    # The directory is not part of these tests: it says what powers zed holds in FreeIPA.
    monkeypatch.setattr(
        "onboarding.access.rights_find",
        lambda username: DirectoryRights(True, False, False, (), power),
    )
    finding = orphan_of(fake, "zed", first_name="Zed", last_name="Ray", email="zed@example.test")

    adopted = as_admin.post(
        f"/reconcile/orphans/{finding.pk}/adopt/", {"team": "vision"}, follow=True
    )

    warned = "only platform admins can act on them" in adopted.content.decode()
    assert warned == bool(power)
