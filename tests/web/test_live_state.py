"""The person page answers without asking any system; each system's live view comes after, in a
fragment that waits for the systems at most LIVE_STATE_TIMEOUT_SECONDS."""

from __future__ import annotations

import threading
import time

import pytest

from onboarding.errors import TransientError
from onboarding.systems.base import System
from onboarding.systems.iam import IAMSystem
from onboarding.systems.jupyterhub import JupyterHubSystem
from tests.factories import make_person
from tests.web.conftest import unique

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


@pytest.fixture
def hanging_iam(monkeypatch):
    """IAM's live view hangs (as a network black hole would) until the test ends."""
    released = threading.Event()

    def hang(self, person):
        released.wait(30)
        raise TimeoutError("released")

    monkeypatch.setattr(IAMSystem, "person_state", hang)
    yield
    released.set()


def test_the_person_page_asks_no_system_while_it_renders(as_admin, personas, monkeypatch):
    person = make_person(unique("p"), team=personas.team_a, status="active")
    asked = []

    def no_live_call(self):
        asked.append(self.name)
        raise AssertionError(f"the page asked {self.name} live")

    monkeypatch.setattr(System, "client", property(no_live_call))

    response = as_admin.get(f"/people/{person.username}/")

    assert response.status_code == 200
    assert asked == []
    page = response.content.decode()
    assert f'hx-get="/people/{person.username}/systems/"' in page
    assert "Asking FreeIPA, EFS, IAM, JupyterHub what they hold now" in page


def test_a_system_that_hangs_is_shown_as_not_answering_when_the_deadline_passes(
    as_admin, personas, settings, hanging_iam
):
    settings.LIVE_STATE_TIMEOUT_SECONDS = 1
    person = make_person(unique("p"), team=personas.team_a, status="active")

    started = time.monotonic()
    response = as_admin.get(f"/people/{person.username}/systems/", HTTP_HX_REQUEST="true")
    took = time.monotonic() - started

    page = response.content.decode()
    assert response.status_code == 200
    assert took < 2.5, f"the fragment took {took:.1f} s with a 1 s deadline"
    assert "IAM is not answering: no answer within 1 s" in page
    assert "FreeIPA is not answering" not in page
    assert "no user" in page  # FreeIPA answered: it holds no such user
    assert "<html" not in page  # the fragment alone, for htmx to swap in


def test_a_system_that_fails_says_so_and_the_others_are_still_shown(
    as_admin, personas, monkeypatch
):
    person = make_person(unique("p"), team=personas.team_a, status="active")

    def refuse(self, person):
        raise TransientError("jupyterhub", "the hub answered 503")

    monkeypatch.setattr(JupyterHubSystem, "person_state", refuse)

    page = as_admin.get(f"/people/{person.username}/systems/").content.decode()

    assert "JupyterHub is not answering" in page
    assert "503" in page
    assert "no access point" in page  # EFS answered
