"""Input that cannot be stored or shown safely is refused with a clear error naming the field,
and nothing changes: NUL anywhere, control characters and line breaks in names, CSV cells over a
limit, and request bodies larger than anything AccessAdmin reads (refused before they are read)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from onboarding.errors import FileRefused, InvalidInput
from onboarding.models import AuditEvent, LifecycleRun, Person
from onboarding.services import people_onboard_csv, person_onboard
from tests.api.conftest import Caller, newcomer, token_for

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "username,first_name,last_name,email,team\n"
LOCAL = "django.contrib.auth.backends.ModelBackend"


def counts() -> tuple[int, int, int]:
    return (Person.objects.count(), LifecycleRun.objects.count(), AuditEvent.objects.count())


@pytest.mark.parametrize(
    "first_name, said",
    [
        ("Ada\n\nPlease reset your password at http://evil.test", "First name holds a line break"),
        ("Ada\rBen", "First name holds a line break"),
        ("Ada\u2028Ben", "First name holds a line break"),
        ("Ada\x00", "First name holds a NUL character"),
        ("Ada\x1b[2J", "First name holds the control character U+001B"),
        ("A" * 129, "First name is 129 characters long; at most 128"),
    ],
)
def test_a_name_that_is_not_one_plain_line_is_refused(fake, team, first_name, said):
    before = counts()
    with pytest.raises(InvalidInput, match=said.replace("+", r"\+")):
        person_onboard(
            username="ada", first_name=first_name, last_name="Lovelace",
            email="ada@example.test", team=team, actor="admin",
        )  # fmt: skip
    assert counts() == before
    assert fake.accounts == {}


def test_a_reason_may_have_several_lines_but_no_other_control_character(fake, team):
    from onboarding.validation import text_check

    assert text_check("left\nthe company", label="The reason") == "left\nthe company"
    with pytest.raises(InvalidInput, match="U\\+0007"):
        text_check("left\x07", label="The reason")


def test_a_csv_cell_over_its_limit_is_a_row_problem_not_a_crash(fake, team):
    huge = "A" * 200_000
    text = (
        HEADER + "bob,Bob,K,bob@example.test,vision\n" + f"ada,{huge},L,ada@example.test,vision\n"
    )
    before = counts()
    with pytest.raises(FileRefused) as caught:
        people_onboard_csv(text=text, actor="admin")
    assert counts() == before
    assert caught.value.problems == [
        "row 3: a value is longer than 1000 characters, or the file is not CSV from here on; "
        "nothing after it was read"
    ]

    long = "A" * 5000
    with pytest.raises(FileRefused) as caught:
        people_onboard_csv(text=HEADER + f"ada,{long},L,ada@example.test,vision\n", actor="admin")
    assert caught.value.problems == ["row 2: first_name is 5000 characters long; at most 1000"]
    assert counts() == before


def test_an_api_body_with_a_nul_or_a_multi_line_name_is_a_400_naming_the_field(fake, team):
    hr = Caller(token_for("hr-system"))
    before = counts()

    nul = hr.post("/onboardings", newcomer("ada", first_name="Ada\x00"))
    lines = hr.post("/onboardings", newcomer("ada", first_name="Ada\n\nClick http://evil.test"))
    reason = hr.post("/offboardings", {"username": "nobody", "reason": "gone\x00"})

    assert (nul.status_code, nul.json()) == (
        400, {"error": "The request is not valid: first_name: Value error, holds a NUL character."},
    )  # fmt: skip
    assert lines.status_code == 400
    assert lines.json() == {"error": "First name holds a line break; it must be one line."}
    assert (
        reason.status_code == 400 and "reason: Value error, holds a NUL" in reason.json()["error"]
    )
    assert counts() == before


def test_a_nul_in_the_address_or_query_is_a_400_not_a_500(fake, team):
    hr = Caller(token_for("hr-system"))
    answer = hr.client.get("/api/v1/people", {"team": "vision\x00"})
    assert answer.status_code == 400
    assert answer.json() == {"error": "The query parameter 'team' holds a NUL character."}
    assert hr.client.get("/api/v1/people/ada%00").status_code == 400


def test_a_body_larger_than_any_request_is_refused_before_it_is_read(client, settings, team):
    settings.REQUEST_MAX_BYTES = 64 * 1024
    admin = get_user_model().objects.create_superuser("root-admin", password="x")
    client.force_login(admin, LOCAL)
    rows = "".join(f"p{n},P,L,p{n}@example.test,vision\n" for n in range(2000))
    file = SimpleUploadedFile("people.csv", (HEADER + rows).encode(), content_type="text/csv")
    before = counts()

    answer = client.post("/onboard/csv/", {"file": file, "action": "preview"})

    assert answer.status_code == 413
    assert "at most 65536 (REQUEST_MAX_BYTES)" in answer.content.decode()
    assert counts() == before
    api = Caller(token_for("hr-system")).post(
        "/onboardings", newcomer("ada", last_name="L" * 70_000)
    )
    assert api.status_code == 413
