"""What every page shares. Error pages render as in production wherever AccessAdmin runs (DEBUG
is off unless asked for): AccessAdmin's own 404, 403 and 500 pages, no URL patterns, tracebacks
or settings. Every staff page offers a people search in its header."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.django_db

LOCAL = "django.contrib.auth.backends.ModelBackend"


@pytest.mark.parametrize("environment", ["local", "test"])
def test_debug_is_off_unless_asked_for(environment):
    shown = subprocess.run(
        [sys.executable, "-c",
         "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != "DEBUG"},
             "ACCESSADMIN_ENV": environment, "DJANGO_SETTINGS_MODULE": "accessadmin.settings"},
    )  # fmt: skip
    assert shown.stdout.strip() == "False", shown.stderr


def test_an_unknown_page_is_accessadmins_own_404():
    answer = Client().get("/no-such-page/")
    page = answer.content.decode()
    assert answer.status_code == 404
    assert "Not found" in page and "URLconf" not in page and "urlpatterns" not in page


def test_a_crash_is_accessadmins_own_500_with_the_details_only_in_the_log(monkeypatch, caplog):
    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    client = Client(raise_request_exception=False)
    client.force_login(admin, LOCAL)

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail of the crash")

    monkeypatch.setattr("onboarding.selectors.people_by_status", broken)
    answer = client.get("/")

    page = answer.content.decode()
    assert answer.status_code == 500
    assert "Something went wrong" in page
    assert "secret detail" not in page and "Traceback" not in page
    assert "secret detail of the crash" in caplog.text


def test_every_staff_page_offers_a_people_search_that_finds_by_name():
    from onboarding.models import Team
    from tests.factories import make_person

    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    client = Client()
    client.force_login(admin, LOCAL)
    make_person("mary", team=Team.objects.create(name="vision", freeipa_group="vision"))

    dashboard = client.get("/").content.decode()
    assert 'role="search"' in dashboard and 'action="/people/"' in dashboard
    assert "mary" in client.get("/people/", {"q": "mar"}).content.decode()


def test_a_new_installation_shows_an_admin_what_to_do_first_until_it_is_done():
    from onboarding.models import Team
    from tests.factories import make_person

    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    client = Client()
    client.force_login(admin, LOCAL)

    fresh = client.get("/").content.decode()
    assert 'id="first-run"' in fresh and "Create a team" in fresh and "Done:" not in fresh

    team = Team.objects.create(name="vision", freeipa_group="vision")
    team.leads.add(get_user_model().objects.create_user("lea"))
    halfway = client.get("/").content.decode()
    assert halfway.count("Done:") == 2 and "Onboard the first person" in halfway

    make_person("mary", team=team)
    assert 'id="first-run"' not in client.get("/").content.decode()
