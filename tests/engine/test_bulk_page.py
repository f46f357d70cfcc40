"""The bulk onboarding page against the fake system: a preview of every row, then every run
started at once; a lead's rows for other teams are problems."""

import csv
import html
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from onboarding.credentials import credential_store
from onboarding.errors import PermanentError
from onboarding.models import AuditEvent, Credential, LifecycleRun, Person
from onboarding.services import people_onboard_csv
from web.views.bulk import UPLOADED_SESSION_KEY

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "username,first_name,last_name,email,team\n"
# A local account: the directory, not running here, is not asked for its rights.
LOCAL = "django.contrib.auth.backends.ModelBackend"
OTP_URI = "otpauth://totp/EXAMPLE.TEST:ada?secret=JBSWY3DPEHPK3PXP&issuer=EXAMPLE.TEST"


def upload(client, text: str, *, follow: bool = True):
    """The file sent as a browser sends it; the answer, a redirect, followed unless asked not."""
    file = SimpleUploadedFile("people.csv", text.encode("utf-8-sig"), content_type="text/csv")
    return client.post("/onboard/csv/", {"file": file, "action": "preview"}, follow=follow)


@pytest.fixture
def as_admin(client):
    client.force_login(get_user_model().objects.create_superuser("root-admin", password="x"), LOCAL)
    return client


@pytest.fixture
def as_lead(client, team):
    lead = get_user_model().objects.create_user("lead", password="x")
    team.leads.add(lead)
    client.force_login(lead, LOCAL)
    return client


def test_an_admin_previews_every_row_then_starts_every_run(fake, team, other_team, as_admin):
    text = HEADER + "ada,Ada,L,ada@example.test,vision\nbob,Bob,K,bob@example.test,nlp\n"
    page = upload(as_admin, text).content.decode()
    assert "Row 2: ada" in page and "Row 3: bob" in page
    assert 'data-step="fake_account"' in page
    assert not LifecycleRun.objects.exists()
    token = page.split('name="preview_token" value="')[1].split('"')[0]
    response = as_admin.post(
        "/onboard/csv/", {"action": "onboard", "csv_text": text, "preview_token": token}
    )
    runs = LifecycleRun.objects.order_by("pk")
    assert [run.person.username for run in runs] == ["ada", "bob"]
    assert response.url == f"/runs/bulk/?runs={runs[0].pk},{runs[1].pk}"
    followed = as_admin.get(response.url).content.decode()
    assert followed.count("Succeeded") == 2
    assert "Every run has finished." in followed


def test_the_upload_is_answered_by_a_redirect_to_a_preview_that_reloads_without_resending(
    fake, team, as_admin
):
    text = HEADER + "ada,Ada,L,ada@example.test,vision\n"

    response = upload(as_admin, text, follow=False)

    assert response.status_code == 302
    assert response.url.startswith("/onboard/csv/?preview=")
    assert "ada" not in response.url
    first = as_admin.get(response.url)
    again = as_admin.get(response.url)  # a reload, or Back to it: no form is sent again
    assert first["Cache-Control"] == "no-store"
    assert "Row 2: ada" in first.content.decode() and "Row 2: ada" in again.content.decode()
    assert not Person.objects.exists()
    token = first.content.decode().split('name="preview_token" value="')[1].split('"')[0]
    done = as_admin.post(
        "/onboard/csv/", {"action": "onboard", "csv_text": text, "preview_token": token}
    )
    assert done.status_code == 302
    back = as_admin.get(response.url).content.decode()
    assert "That preview has ended" in back and "Row 2: ada" not in back
    assert LifecycleRun.objects.count() == 1


def test_another_user_cannot_open_someones_uploaded_preview(fake, team, as_admin):
    text = HEADER + "ada,Ada,L,secret-ada@example.test,vision\n"
    address = upload(as_admin, text, follow=False).url
    other = Client()
    other_admin = get_user_model().objects.create_superuser("other-admin", password="x")
    other.force_login(other_admin, LOCAL)

    page = other.get(address).content.decode()

    assert "That preview has ended" in page
    assert "secret-ada" not in page and "Row 2: ada" not in page
    assert not Person.objects.exists()


def test_a_preview_older_than_fifteen_minutes_or_with_a_wrong_key_shows_nothing(
    fake, team, as_admin
):
    text = HEADER + "ada,Ada,L,ada@example.test,vision\n"
    address = upload(as_admin, text, follow=False).url
    wrong = as_admin.get("/onboard/csv/?preview=not-the-key").content.decode()
    session = as_admin.session
    session[UPLOADED_SESSION_KEY]["at"] -= 16 * 60
    session.save()

    late = as_admin.get(address).content.decode()

    assert "That preview has ended" in wrong and "Row 2: ada" not in wrong
    assert "That preview has ended" in late and "Row 2: ada" not in late
    assert not Person.objects.exists()


def test_an_upload_without_a_file_says_so_and_is_not_redirected(fake, team, as_admin):
    response = as_admin.post("/onboard/csv/", {"action": "preview"})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert UPLOADED_SESSION_KEY not in as_admin.session


def browser_sends(page: str, name: str) -> str:
    """The hidden field's value as a browser submits it: the HTML form encoding rewrites every
    line break in a value to CRLF, whatever the page held."""
    value = html.unescape(page.split(f'name="{name}" value="')[1].split('"')[0])
    return value.replace("\r\n", "\n").replace("\n", "\r\n")


@pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["LF file", "CRLF file"])
def test_what_a_browser_sends_back_starts_the_runs_whatever_the_files_line_endings(
    fake, team, as_admin, ending
):
    text = HEADER + "ada,Ada,L,ada@example.test,vision\nbob,Bob,K,bob@example.test,vision\n"
    page = upload(as_admin, text.replace("\n", ending)).content.decode()
    token = page.split('name="preview_token" value="')[1].split('"')[0]

    response = as_admin.post(
        "/onboard/csv/",
        {"action": "onboard", "csv_text": browser_sends(page, "csv_text"), "preview_token": token},
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    runs = LifecycleRun.objects.order_by("pk")
    assert [run.person.username for run in runs] == ["ada", "bob"]


def test_a_changed_file_is_not_started_without_a_new_preview(fake, team, as_admin):
    text = HEADER + "ada,Ada,L,ada@example.test,vision\n"
    page = upload(as_admin, text).content.decode()
    token = page.split('name="preview_token" value="')[1].split('"')[0]
    changed = text + "bob,Bob,K,bob@example.test,vision\n"
    as_admin.post(
        "/onboard/csv/", {"action": "onboard", "csv_text": changed, "preview_token": token}
    )
    assert not LifecycleRun.objects.exists()


def test_a_lead_sees_rows_for_other_teams_as_problems(fake, team, other_team, as_lead):
    Person.objects.create(username="taken", first_name="T", last_name="K", email="t@x.test",
                          team=other_team)  # fmt: skip
    text = HEADER + (
        "ada,Ada,L,ada@example.test,vision\n"
        "bob,Bob,K,bob@example.test,nlp\n"
        "taken,Tak,En,taken@example.test,vision\n"
    )
    page = upload(as_lead, text).content.decode()
    assert "The file was refused; nothing was created" in page
    assert "row 3: you may not onboard into team nlp" in page
    assert "row 4: The username &#x27;taken&#x27; is not available" in page
    assert "Row 2: ada" not in page


DATED = "username,first_name,last_name,email,team,start_date,end_date\n"


def test_a_row_waiting_for_its_start_date_is_said_so_in_the_preview_and_after(fake, team, as_admin):
    starts = timezone.localdate() + timedelta(days=9)
    text = DATED + f"ada,Ada,L,ada@example.test,vision,{starts},\nbob,Bob,K,bob@x.test,vision,,\n"
    page = upload(as_admin, text).content.decode()
    assert f"ada waits for its start date {starts}</strong>: no run now" in page
    assert "bob waits" not in page
    token = page.split('name="preview_token" value="')[1].split('"')[0]
    response = as_admin.post(
        "/onboard/csv/", {"action": "onboard", "csv_text": text, "preview_token": token}
    )
    bob_run = LifecycleRun.objects.get()
    assert bob_run.person.username == "bob"
    assert response.url == f"/runs/bulk/?runs={bob_run.pk}&waiting=ada"
    followed = as_admin.get(response.url, follow=True).content.decode()
    assert f"ada</a> waits for its start date {starts}" in followed
    assert f"1 wait for their start date (no run until then): ada on {starts}." in followed


# The fake system hands over no secrets; these stand for the FreeIPA step's.
def with_credentials(runs: list[LifecycleRun]) -> list[LifecycleRun]:
    for run in runs:
        credential_store(
            run=run, kind=Credential.Kind.TEMPORARY_PASSWORD, secret=f"Temp-{run.person.username}"
        )
        credential_store(run=run, kind=Credential.Kind.OTP_ENROLMENT, secret=OTP_URI)
    return runs


@pytest.fixture
def admins_bulk(fake, team) -> list[LifecycleRun]:
    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    text = HEADER + "ada,Ada,L,ada@example.test,vision\nbob,Bob,K,bob@example.test,vision\n"
    runs = people_onboard_csv(text=text, actor="root-admin", requested_by=admin).runs
    return with_credentials(runs)


def ids(runs) -> str:
    return ",".join(str(run.pk) for run in runs)


def unrevealed() -> int:
    return Credential.objects.filter(ciphertext__isnull=False).count()


def test_every_credential_of_a_bulk_is_revealed_once_on_one_printable_page(client, admins_bulk):
    client.force_login(get_user_model().objects.get(username="root-admin"), LOCAL)
    bulk = client.get(f"/runs/bulk/?runs={ids(admins_bulk)}").content.decode()
    assert "Reveal every credential" in bulk

    first = client.post("/runs/bulk/credentials/", {"runs": ids(admins_bulk)})

    page = first.content.decode()
    assert first.status_code == 200
    assert first["Cache-Control"] == "no-store"
    assert page.count('class="card handover"') == 2
    for run in admins_bulk:
        assert f'<code id="run-{run.pk}-temporary-password" class="temporary-password">' in page
        assert f"Temp-{run.person.username}" in page
    assert "JBSW Y3DP" in page and "At your first login" in page
    assert unrevealed() == 0
    reveals = AuditEvent.objects.filter(action="credentials.reveal", actor="root-admin")
    assert sorted(reveals.values_list("run_id", flat=True)) == [run.pk for run in admins_bulk]

    second = client.post("/runs/bulk/credentials/", {"runs": ids(admins_bulk)})
    again = second.content.decode()
    assert second.status_code == 200
    assert "Temp-ada" not in again and 'class="card handover"' not in again
    assert again.count("already revealed or have expired") == 2
    assert reveals.count() == 2


def test_opening_the_address_reveals_nothing(client, admins_bulk):
    client.force_login(get_user_model().objects.get(username="root-admin"), LOCAL)
    response = client.get(f"/runs/bulk/credentials/?runs={ids(admins_bulk)}", follow=True)
    assert response.redirect_chain == [(f"/runs/bulk/?runs={ids(admins_bulk)}", 302)]
    assert "nothing was revealed by opening that address" in response.content.decode()
    assert "Temp-ada" not in response.content.decode()
    assert unrevealed() == 4


def test_the_reveal_needs_the_forms_csrf_token(admins_bulk):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(get_user_model().objects.get(username="root-admin"), LOCAL)
    assert browser.post("/runs/bulk/credentials/", {"runs": ids(admins_bulk)}).status_code == 403
    assert unrevealed() == 4


def test_a_lead_may_not_reveal_the_runs_another_asked_for(client, team, admins_bulk):
    lead = get_user_model().objects.create_user("lead", password="x")
    team.leads.add(lead)
    client.force_login(lead, LOCAL)
    assert (
        "Reveal every credential"
        not in client.get(f"/runs/bulk/?runs={ids(admins_bulk)}").content.decode()
    )

    response = client.post("/runs/bulk/credentials/", {"runs": ids(admins_bulk)})

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("only root-admin, who asked for it, can reveal its credentials") == 2
    assert "Temp-ada" not in page
    assert unrevealed() == 4
    denial = AuditEvent.objects.get(action="access.denied")
    assert (denial.actor, denial.details["reason"]) == ("lead", "not the requester")


def test_hostile_run_lists_reveal_only_what_is_the_askers(
    client, fake, team, other_team, admins_bulk, settings
):
    lead = get_user_model().objects.create_user("lead", password="x")
    team.leads.add(lead)
    text = HEADER + "cy,Cy,L,cy@example.test,vision\n"
    mine = with_credentials(people_onboard_csv(text=text, actor="lead", requested_by=lead).runs)
    nlp = with_credentials(
        people_onboard_csv(text=HEADER + "nia,Nia,L,nia@example.test,nlp\n", actor="admin").runs
    )
    fake.fail("account_create", PermanentError("fake", "refused"))
    failed = people_onboard_csv(text=HEADER + "dee,Dee,L,dee@x.test,vision\n", actor="lead",
                                requested_by=lead).runs  # fmt: skip
    client.force_login(lead, LOCAL)
    listed = (
        f"abc,,-1,{mine[0].pk},²,{'9' * 30},1e3,{nlp[0].pk},{mine[0].pk} ,{failed[0].pk},<script>"
    )

    response = client.post("/runs/bulk/credentials/", {"runs": listed})

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('class="card handover"') == 1 and "Temp-cy" in page
    assert "Temp-nia" not in page and "nia" not in page
    assert f"Run #{nlp[0].pk}: there is no such run among those you may see" in page
    assert "the run is failed: only a succeeded run&#x27;s credentials" in page
    assert "<script>" not in page.split("<main")[1]
    assert Credential.objects.filter(run=nlp[0], ciphertext__isnull=False).count() == 2
    denial = AuditEvent.objects.get(action="access.denied")
    assert denial.details["reason"] == "runs outside their teams"

    settings.BULK_MAX_ROWS = 3
    thousands = ",".join(str(n) for n in range(1, 5001))
    too_many = client.post("/runs/bulk/credentials/", {"runs": thousands})
    assert too_many.status_code == 400
    assert "5000 runs is more than one bulk onboarding has (at most 3" in too_many.content.decode()
    nothing = client.post("/runs/bulk/credentials/", {"runs": "abc,<b>"})
    assert nothing.status_code == 400
    assert "No run was named; nothing was revealed." in nothing.content.decode()
    assert unrevealed() == 6  # the admin's two runs' and nia's, two each


def test_a_file_to_fill_in_names_every_column_and_a_team_of_ones_own(fake, team, as_lead):
    response = as_lead.get("/onboard/csv/template.csv")
    assert response["Content-Disposition"] == 'attachment; filename="onboard-template.csv"'
    header, example = list(csv.reader(io.StringIO(response.content.decode())))
    assert header == ["username", "first_name", "last_name", "email", "team", "start_date",
                      "end_date"]  # fmt: skip
    assert example[4] == team.name
    # Filled in as it comes, it previews.
    page = upload(as_lead, response.content.decode()).content.decode()
    assert "Row 2: jdoe" in page


def test_a_refused_file_comes_back_with_every_problem_beside_its_row(fake, team, as_admin):
    text = (
        HEADER
        + "ada,Ada,L,ada@example.test,vision\n"
        + "Mary Smith,=cmd(),S,not-an-address,nosuchteam\n"
        + "ada,Ada,L,ada2@example.test,vision\n"
    )
    page = upload(as_admin, text).content.decode()
    assert "The file was refused" in page
    sent_back = html.unescape(page.split('name="csv_text" value="')[1].split('"')[0])
    response = as_admin.post("/onboard/csv/problems.csv", {"csv_text": sent_back})
    assert response["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][-1] == "problems"
    assert rows[1][-1] == ""  # ada on row 2 is fine
    bad = rows[2][-1]
    assert "no team 'nosuchteam'" in bad and "email address" in bad and "Username" in bad
    assert rows[2][1] == "'=cmd()"  # a spreadsheet shows it, never runs it
    assert "also on row 2" in rows[3][-1]
    assert not Person.objects.exists() and not LifecycleRun.objects.exists()


def test_a_copy_of_a_file_with_no_problem_has_an_empty_problems_column(fake, team, as_admin):
    text = HEADER + "ada,Ada,L,ada@example.test,vision\n"
    rows = list(
        csv.reader(io.StringIO(as_admin.post("/onboard/csv/problems.csv", {"csv_text": text})
                               .content.decode()))
    )  # fmt: skip
    assert rows == [
        [*HEADER.strip().split(","), "problems"],
        ["ada", "Ada", "L", "ada@example.test", "vision", ""],
    ]
    assert not Person.objects.exists()
