"""scim2-tester's compliance checks, run by scim2-cli as an operator would (`scim2 test`),
against /scim/v2/ served by a live server with a SCIM token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.scim.conftest import USER, scim_token_for

pytestmark = pytest.mark.django_db(transaction=True)
SCIM2 = Path(sys.executable).with_name("scim2")


def _schemas_with_usernames(token: str, path: Path) -> None:
    """The server's schemas, with userName's suggested values set to FreeIPA usernames: the
    tester fills an attribute from its suggested values when it has some, and a random UUID
    (36 characters, no FreeIPA username) otherwise."""
    answer = Client().get("/scim/v2/Schemas", headers={"Authorization": f"Bearer {token}"})
    schemas = answer.json()["Resources"]
    user = next(schema for schema in schemas if schema["id"] == USER)
    user_name = next(a for a in user["attributes"] if a["name"] == "userName")
    user_name["canonicalValues"] = [f"tester{n:05}" for n in range(100000)]
    path.write_text(json.dumps(schemas))


# What scim2-tester 0.5.2 still reports on Groups, each a rule of AccessAdmin's teams it has no
# way to be told: a team is never deleted through SCIM (403), and a person is in exactly one team,
# so removing a member is refused with a SCIM `mutability` error (they leave a team by joining
# another team's group or by being deactivated). The schema tells it the rest: displayName is
# immutable (a team keeps its name) and members' display is read-only, returned when asked.
BY_DESIGN = {
    ("object_deletion", "Teams are removed in AccessAdmin, not through SCIM"),
    ("check_remove_attribute", "Failed to remove attribute 'members'"),
}


def _failures(report: str) -> set[tuple[str, str]]:
    """(check, reason) of each ERROR or CRITICAL line of `scim2 test --verbose`, the reason
    being the start of the line after it that names the problem."""
    lines = report.splitlines()
    found = set()
    for at, line in enumerate(lines):
        match = re.match(r"(ERROR|CRITICAL) (\S+)$", line)
        if match:
            reason = lines[at + 1].strip() if at + 1 < len(lines) else ""
            known = next((r for c, r in BY_DESIGN if c == match[2] and r in reason), reason)
            found.add((match[2], known))
    return found


def test_scim2_test_reports_no_failure_but_the_two_team_rules(
    live_server, fake, team, settings, tmp_path
):
    settings.SCIM_GROUPS_CREATE_TEAMS = True
    token = scim_token_for("tester")
    _schemas_with_usernames(token, tmp_path / "schemas.json")
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {token}"}

    done = subprocess.run(
        [str(SCIM2), "--url", f"{live_server.url}/scim/v2", "--schemas",
         str(tmp_path / "schemas.json"), "test", "--verbose"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip

    assert "Performing a SCIM compliance check" in done.stdout, done.stderr[-3000:]
    assert _failures(done.stdout) == BY_DESIGN, done.stdout[-20000:]
    assert len(re.findall(r"^SUCCESS ", done.stdout, re.M)) >= 124
