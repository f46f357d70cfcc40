"""Reconciliation against the fake system: each kind of finding, what `manage.py reconcile` prints
and exits with, the findings kept between passes, and repairs started as runs."""

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.errors import InvalidInput
from onboarding.models import AuditEvent, Finding, LifecycleRun, Person
from onboarding.services import person_offboard, reconcile, run_rollback
from onboarding.tasks import reconcile_task
from tests.engine.conftest import onboard, person
from tests.engine.fake import Account
from tests.factories import make_person, make_run

pytestmark = pytest.mark.django_db(transaction=True)

Kind = Finding.Kind


def found(fake) -> list[tuple[str, str, str]]:
    return [(f.kind, f.username, f.subject) for f in reconcile(actor="admin")]


def reconcile_command(*args) -> tuple[int, str]:
    """manage.py reconcile: its exit code and what it printed."""
    out = StringIO()
    try:
        call_command("reconcile", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def offboarded(username: str, team) -> Person:
    onboard(username, team)
    person_offboard(person=person(username), reason="left", actor="admin")
    return person(username)


def test_a_pass_over_people_whose_systems_agree_finds_nothing(fake, team):
    onboard("hal", team)
    offboarded("ida", team)
    assert reconcile_command() == (0, "")
    assert fake.calls["account_list"] == 1


def test_an_active_persons_account_gone_is_missing(fake, team):
    onboard("hal", team)
    del fake.accounts["hal"]
    (finding,) = reconcile(actor="admin")
    assert (finding.kind, finding.system, finding.username) == (Kind.MISSING, "fake", "hal")
    assert finding.detail == (
        "hal is active, but Fake directory holds no account of theirs "
        "(expected: team vision, keys 1)"
    )


def test_an_active_persons_wrong_team_differs(fake, team):
    onboard("hal", team)
    fake.accounts["hal"].team = "nlp"
    (finding,) = reconcile(actor="admin")
    assert finding.kind == Kind.DIFFERS
    assert finding.detail == "hal's Fake directory account differs: team nlp (expected vision)"


def test_an_offboarded_persons_account_back_in_use_is_unexpected(fake, team):
    offboarded("ida", team)
    fake.accounts["ida"].disabled = False
    (finding,) = reconcile(actor="admin")
    assert (finding.kind, finding.username) == (Kind.UNEXPECTED, "ida")
    assert "ida is offboarded, but Fake directory still holds their account" in finding.detail


def test_an_account_of_nobody_accessadmin_knows_is_an_orphan(fake, team):
    fake.accounts["ghost"] = Account("ghost", "vision", keys=1)
    (finding,) = reconcile(actor="admin")
    assert (finding.kind, finding.username, finding.subject) == (
        Kind.ORPHAN, "ghost", "account ghost",
    )  # fmt: skip
    assert "belongs to no person AccessAdmin knows" in finding.detail


def test_the_command_prints_a_line_or_a_json_object_per_finding_and_exits_1(fake, team):
    onboard("hal", team)
    onboard("ivy", team)
    del fake.accounts["hal"]
    fake.accounts["ivy"].keys = 0
    code, out = reconcile_command()
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("missing    fake       hal ")
    assert lines[1].startswith("differs    fake       ivy ")
    code, out = reconcile_command("--json")
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["kind"], r["system"], r["username"], r["subject"]) for r in rows] == [
        ("missing", "fake", "hal", "account"),
        ("differs", "fake", "ivy", "account"),
    ]
    assert rows[1]["detail"] == "ivy's Fake directory account differs: keys 0 (expected 1)"


def test_findings_are_kept_between_passes_audited_once_and_resolved_when_gone(fake, team):
    onboard("hal", team)
    del fake.accounts["hal"]
    (first,) = reconcile(actor="admin")
    (again,) = reconcile(actor="admin")
    assert again.pk == first.pk and again.first_seen == first.first_seen
    assert again.last_seen > first.last_seen
    events = AuditEvent.objects.filter(action="reconcile.finding")
    assert [(e.actor, e.target, e.details["kind"]) for e in events] == [("admin", "hal", "missing")]
    fake.account_create("hal", team.name)
    fake.accounts["hal"].keys = 1
    assert reconcile(actor="admin") == []
    first.refresh_from_db()
    assert first.resolved_at is not None
    assert not Finding.objects.open().exists()


def test_a_system_that_cannot_be_asked_is_said_so_and_nothing_is_reported_missing(fake, team):
    onboard("hal", team)
    onboard("ivy", team)
    del fake.accounts["hal"]
    (missing,) = reconcile(actor="admin")
    fake.reachable = False
    code, out = reconcile_command()
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith("unanswered fake       -")
    assert "Fake directory could not be asked (fake: cannot reach the fake directory)" in line
    missing.refresh_from_db()
    assert missing.resolved_at is None, "what was found before stays open while unknown"
    fake.reachable = True
    assert [f.kind for f in reconcile(actor="admin")] == [Kind.MISSING]
    assert Finding.objects.open().count() == 1


def test_repair_starts_a_repair_run_for_active_people_and_an_offboarding_one_for_leavers(
    fake, team
):
    onboard("hal", team)
    onboard("ivy", team)
    offboarded("ida", team)
    del fake.accounts["hal"]
    fake.accounts["ivy"].team = "nlp"
    fake.accounts["ida"].disabled = False
    fake.accounts["ghost"] = Account("ghost", "vision")
    code, out = reconcile_command("--repair")
    assert code == 1
    runs = {
        run.person.username: run for run in LifecycleRun.objects.filter(kind__startswith="repair")
    }
    assert {name: (run.kind, run.state) for name, run in runs.items()} == {
        "hal": ("repair", "succeeded"),
        "ivy": ("repair", "succeeded"),
        "ida": ("repair_offboard", "succeeded"),
    }
    for name, run in runs.items():
        assert f"repair     {name}: run #{run.pk} ({run.kind}) queued" in out
    assert (person("hal").status, person("ida").status) == ("active", "offboarded")
    assert fake.accounts["hal"].keys == 1 and fake.accounts["ivy"].team == "vision"
    assert fake.accounts["ida"].disabled
    assert AuditEvent.objects.filter(action="repair.request", actor__startswith="cli:").count() == 2
    assert [(f.kind, f.username) for f in reconcile(actor="admin")] == [("orphan", "ghost")]
    assert "ghost" not in {run.person.username for run in LifecycleRun.objects.all()}


def test_repair_of_one_person_leaves_the_others(fake, team):
    onboard("hal", team)
    onboard("ivy", team)
    del fake.accounts["hal"]
    del fake.accounts["ivy"]
    code, out = reconcile_command("--repair", "ivy", "--json")
    assert code == 1
    repairs = [row for row in map(json.loads, out.splitlines()) if "repair" in row]
    assert [(r["repair"], r["kind"]) for r in repairs] == [("ivy", "repair")]
    assert "hal" not in fake.accounts and "ivy" in fake.accounts


def test_a_person_with_a_run_in_progress_is_not_repaired_but_noted(fake, team):
    onboard("hal", team)
    del fake.accounts["hal"]

    def move_starts() -> None:
        LifecycleRun.objects.create(person=person("hal"), kind="move", actor="admin")

    fake.before("account_list", move_starts)
    code, out = reconcile_command("--repair")
    assert code == 1
    assert "repair     hal: skipped: hal is already being moved to another team" in out
    assert not LifecycleRun.objects.filter(kind="repair").exists()
    # While that run is under way, the pass leaves hal alone: their objects are changing.
    assert reconcile_command() == (0, "")


def test_a_repair_is_not_rolled_back(fake, team):
    onboard("hal", team)
    del fake.accounts["hal"]
    fake.fail("account_create", InvalidInput("refused"))
    reconcile_command("--repair")
    run = LifecycleRun.objects.get(kind="repair")
    assert run.state == "failed"
    with pytest.raises(InvalidInput, match="is a repair"):
        run_rollback(run=run, actor="admin")


def test_beat_runs_a_pass_every_hour_as_accessadmin(fake, team):
    assert settings.CELERY_BEAT_SCHEDULE["reconcile"] == {
        "task": "reconcile.pass", "schedule": 3600.0,
    }  # fmt: skip
    onboard("hal", team)
    del fake.accounts["hal"]
    assert reconcile_task() == 1
    assert AuditEvent.objects.get(action="reconcile.finding").actor == "accessadmin"


def test_applying_a_team_to_its_members_repairs_each_active_one_and_skips_the_busy(fake, team):
    from onboarding.services import team_members_apply

    onboard("tia", team)
    onboard("uma", team)
    busy = make_person("vik", team=team, status=Person.Status.ONBOARDING)
    make_run(busy, state=LifecycleRun.State.RUNNING)
    gone = make_person("wes", team=team, status=Person.Status.OFFBOARDED)

    outcomes = {o.username: o for o in team_members_apply(team=team, actor="admin")}

    assert set(outcomes) == {"tia", "uma", "vik"}
    assert gone.username not in outcomes
    for username in ("tia", "uma"):
        run = outcomes[username].run
        run.refresh_from_db()
        assert (run.kind, run.state) == ("repair", LifecycleRun.State.SUCCEEDED), run.error
        assert run.params == {"team_change": team.name}
    assert outcomes["vik"].run is None and outcomes["vik"].note.startswith("skipped:")


def test_a_successful_repair_settles_its_persons_findings_at_once(fake, team):
    onboard("hal", team)
    onboard("ivy", team)
    del fake.accounts["hal"]
    del fake.accounts["ivy"]
    reconcile(actor="admin")
    assert set(Finding.objects.open().values_list("username", flat=True)) == {"hal", "ivy"}

    code, _ = reconcile_command("--repair", "hal")

    assert code == 1
    # hal's are settled with the run that put them right; ivy's wait for their own repair.
    assert set(Finding.objects.open().values_list("username", flat=True)) == {"ivy"}
    settled = AuditEvent.objects.get(action="reconcile.settled")
    assert settled.target == "hal" and settled.run.kind == "repair"


def test_the_page_says_when_the_last_pass_was_and_an_admin_checks_now(fake, team, client):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    client.force_login(admin, "django.contrib.auth.backends.ModelBackend")
    onboard("hal", team)
    del fake.accounts["hal"]

    before = client.get("/reconcile/").content.decode()
    assert "No reconciliation pass has run yet" in before
    assert "Nothing found yet, because nothing has been checked yet." in before
    assert "No reconciliation pass has run yet." in client.get("/").content.decode()

    checked = client.post("/reconcile/check/", follow=True).content.decode()

    assert "A reconciliation pass has started" in checked
    assert "Last checked" in checked and "hal" in checked
    assert AuditEvent.objects.filter(action="reconcile.request", actor="root-admin").exists()
    passed = AuditEvent.objects.get(action="reconcile.pass")
    assert passed.details == {"open": 1, "new": 1, "silent": []}
    assert "Last checked" in client.get("/").content.decode()


def test_a_lead_may_not_start_a_pass(fake, team, client):
    from django.contrib.auth import get_user_model

    lead = get_user_model().objects.create_user("lea", password="x")
    team.leads.add(lead)
    client.force_login(lead, "django.contrib.auth.backends.ModelBackend")

    assert client.post("/reconcile/check/").status_code == 403
    assert not AuditEvent.objects.filter(action="reconcile.pass").exists()


def test_the_person_page_shows_their_drift_and_repairs_it_there(fake, team, client):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    client.force_login(admin, "django.contrib.auth.backends.ModelBackend")
    onboard("hal", team)
    assert 'id="drift"' not in client.get("/people/hal/").content.decode()
    del fake.accounts["hal"]
    reconcile(actor="admin")

    page = client.get("/people/hal/").content.decode()
    assert 'id="drift"' in page and 'href="/reconcile/repair/hal/"' in page

    preview = client.get("/reconcile/repair/hal/").content.decode()
    token = preview.split('name="preview_token" value="')[1].split('"')[0]
    client.post("/reconcile/repair/hal/", {"action": "repair", "preview_token": token})

    assert "hal" in fake.accounts
    assert 'id="drift"' not in client.get("/people/hal/").content.decode()
    assert not Finding.objects.open().filter(username="hal").exists()


def test_a_repairs_run_page_says_which_steps_were_unchanged(fake, team, client):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    client.force_login(admin, "django.contrib.auth.backends.ModelBackend")
    onboard("hal", team)
    fake.accounts["hal"].team = "nlp"  # only the team differs
    reconcile_command("--repair", "hal")
    run = LifecycleRun.objects.get(kind="repair")

    page = client.get(f"/runs/{run.pk}/").content.decode()

    rows = {row.split('data-step="')[1].split('"')[0]: row for row in page.split("<tr")[1:]
            if 'data-step="' in row}  # fmt: skip
    assert "Unchanged" in rows["fake_account"] and "Unchanged" in rows["fake_key"]
    assert "Unchanged" not in rows["fake_team"] and "Done" in rows["fake_team"]
