"""JSON log lines say which run and step they come from, on the step threads too, and stay valid
JSON whatever the message or exception holds."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from onboarding.errors import PermanentError
from onboarding.logs import JsonFormatter, log_context, log_context_fields
from onboarding.steps import StepContext
from onboarding.systems import systems_reset
from tests.conftest import REPO_ROOT
from tests.engine.conftest import fake, onboard  # noqa: F401 - the engine's fake system
from tests.engine.fake import ACCOUNT_CREATE, KEY_ISSUE, FakeStep, FakeSystem
from tests.factories import make_team

logger = logging.getLogger("tests.steps")


class Note(FakeStep):
    name = "fake_note"
    description = "Write a line to the log"

    def do(self, ctx: StepContext) -> dict:
        logger.info("noting %s", ctx.username)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        return None

    def undo(self, ctx: StepContext) -> None:
        logger.info("un-noting %s", ctx.username)


class SideBySide(FakeSystem):
    """The fake system with two steps in one stage and no order between them: the second runs
    on a step thread."""

    steps = {
        ("onboard", "account"): (ACCOUNT_CREATE,),
        ("onboard", "access"): (KEY_ISSUE, Note()),
    }


@pytest.fixture
def side_by_side(fake, settings):  # noqa: F811 - the fixture imported above
    settings.ACCESSADMIN_SYSTEMS = ["tests.test_logs.SideBySide"]
    systems_reset()
    from onboarding.systems import system

    return system("fake").client


class JsonLines(logging.Handler):
    """Every record, as the JSON formatter writes it, and the thread that logged it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[tuple[str, dict]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.threadName, json.loads(self.format(record))))


@pytest.fixture
def json_lines():
    handler = JsonLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.django_db(transaction=True)
def test_lines_logged_inside_steps_carry_the_run_and_the_step(side_by_side, json_lines):
    # Inside fake_key, which runs on the run's own thread.
    side_by_side.before("account_set", lambda: logger.info("setting the key of %s", "ada"))
    run = onboard("ada", make_team("vision"))
    assert run.state == "succeeded", run.error

    from_steps = [
        (thread, line) for thread, line in json_lines.lines if line["logger"] == "tests.steps"
    ]
    by_message = {line["message"]: (thread, line) for thread, line in from_steps}
    thread, noted = by_message["noting ada"]
    assert thread.startswith("lifecycle-step")  # the step thread got the context too
    assert (noted["run"], noted["step"], noted["level"]) == (run.pk, "fake_note", "INFO")
    assert noted["worker"]
    _, keyed = by_message["setting the key of ada"]
    assert (keyed["run"], keyed["step"]) == (run.pk, "fake_key")
    assert log_context_fields() == {}  # nothing leaks past the run


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_in_a_step_is_one_json_line_with_its_traceback(
    side_by_side, json_lines
):
    side_by_side.fail("account_set", RuntimeError('disk "full"\nsecond line'))
    run = onboard("bea", make_team("vision"))
    assert run.state == "failed"

    errors = [line for _, line in json_lines.lines if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert (errors[0]["run"], errors[0]["step"]) == (run.pk, "fake_key")
    assert 'RuntimeError: disk "full"\nsecond line' in errors[0]["exception"]


@pytest.mark.django_db(transaction=True)
def test_rollback_lines_carry_the_step_being_undone(side_by_side, json_lines):
    from onboarding.services import run_rollback

    side_by_side.fail("account_set", PermanentError("fake", "refused"))
    run = onboard("cat", make_team("vision"))
    side_by_side.before("account_delete", lambda: logger.info("deleting"))
    run_rollback(run=run, actor="admin")
    run.refresh_from_db()
    assert run.state == "rolled_back", run.error

    deleting = [line for _, line in json_lines.lines if line["message"] == "deleting"]
    assert [(line["run"], line["step"]) for line in deleting] == [(run.pk, "fake_account")]


def test_the_formatter_writes_valid_json_for_a_record_with_an_exception():
    try:
        raise ValueError('bad "value"\n\ttabbed \u00e9')
    except ValueError:
        record = logging.LogRecord(
            "onboarding.runner", logging.ERROR, __file__, 1, "step %s broke: %r", ("x", {"a": 1}),
            sys.exc_info(),
        )  # fmt: skip
    with log_context(run=7, step="fake_key", worker="w@host:1"):
        line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "step x broke: {'a': 1}"
    assert (parsed["level"], parsed["logger"]) == ("ERROR", "onboarding.runner")
    assert (parsed["run"], parsed["step"], parsed["worker"]) == (7, "fake_key", "w@host:1")
    assert parsed["exception"].startswith("Traceback")
    assert 'ValueError: bad "value"' in parsed["exception"]
    assert parsed["time"].endswith("+00:00")


def test_outside_a_run_a_line_has_no_run_or_step():
    record = logging.LogRecord("web", logging.INFO, __file__, 1, "hello", (), None)
    parsed = json.loads(JsonFormatter().format(record))
    assert set(parsed) == {"time", "level", "logger", "message"}


def start_django(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "import django, logging; django.setup(); logging.getLogger('probe').warning('hello')"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "accessadmin.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_log_format_json_makes_every_line_a_json_object():
    result = start_django({"LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"level": "WARNING", "logger": "probe", "message": "hello"}.items() <= lines[-1].items()


def test_a_log_format_that_is_neither_json_nor_text_stops_start_up():
    result = start_django({"LOG_FORMAT": "xml"})
    assert result.returncode != 0
    assert "LOG_FORMAT must be one of json, text" in result.stderr


def test_the_log_context_is_restored_when_a_block_ends():
    with log_context(run=1):
        with log_context(step="a"):
            assert log_context_fields() == {"run": 1, "step": "a"}
        assert log_context_fields() == {"run": 1}
    assert log_context_fields() == {}
