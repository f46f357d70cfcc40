"""The bulk onboarding page against the fake system: a preview of every row, then every run
started at once; a lead's rows for other teams are problems."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from onboarding.models import LifecycleRun, Person

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "username,first_name,last_name,email,team\n"
# A local account: the directory, not running here, is not asked for its rights.
LOCAL = "django.contrib.auth.backends.ModelBackend"


def upload(client, text: str):
    file = SimpleUploadedFile("people.csv", text.encode("utf-8-sig"), content_type="text/csv")
    return client.post("/onboard/csv/", {"file": file, "action": "preview"})


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
