"""Reconciliation against the local stack: what is changed by hand in the systems is found, and
`manage.py reconcile --repair` puts it right through a repair run."""

import json

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from onboarding.models import LifecycleRun
from onboarding.systems.jupyterhub.steps import team_hub_group
from tests.lifecycle.conftest import onboard, unique
from tests.lifecycle.observe import access_points, aws, freeipa_client, hub_user

pytestmark = pytest.mark.django_db(transaction=True)


def reconcile_command(*args) -> tuple[int, list[dict]]:
    out = []

    class Lines:
        def write(self, text: str) -> None:
            out.extend(line for line in text.splitlines() if line.strip())

        def flush(self) -> None:
            pass

    try:
        call_command("reconcile", "--json", *args, stdout=Lines())
        code = 0
    except CommandError as error:
        code = error.returncode
    return code, [json.loads(line) for line in out]


def hub_user_delete(stack: dict[str, str], username: str) -> None:
    response = requests.delete(
        f"{stack['JUPYTERHUB_URL']}/hub/api/users/{username}",
        headers={"Authorization": f"token {stack['JUPYTERHUB_API_TOKEN']}"},
        timeout=10,
    )
    assert response.status_code == 204, response.text


def role_delete(stack: dict[str, str], name: str) -> None:
    iam = aws(stack, "iam")
    for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    iam.delete_role(RoleName=name)


def freeipa_group_join(stack: dict[str, str], username: str, group: str) -> None:
    admin = freeipa_client(stack)
    admin.login(stack["FREEIPA_USERNAME"], stack["FREEIPA_PASSWORD"])
    admin.group_add_member(a_cn=group, o_user=[username])
    admin.logout()


def test_what_is_changed_by_hand_is_found_and_repaired(
    eager, stack_configured, team, other_team, username
):
    stack = stack_configured
    run = onboard(username, team)
    assert run.state == LifecycleRun.State.SUCCEEDED, run.error
    role_name = f"{settings.IAM_ROLE_PREFIX}{username}"
    stray_role = f"{settings.IAM_ROLE_PREFIX}{unique('stray-')}"
    aws(stack, "iam").create_role(
        RoleName=stray_role, Path=settings.IAM_ROLE_PATH, AssumeRolePolicyDocument="{}"
    )
    try:
        assert [f for f in reconcile_command()[1] if f["username"] == username] == []

        hub_user_delete(stack, username)
        role_delete(stack, role_name)
        (access_point,) = access_points(stack, username)
        aws(stack, "efs").delete_access_point(AccessPointId=access_point["AccessPointId"])
        freeipa_group_join(stack, username, other_team.freeipa_group)

        code, findings = reconcile_command()
        assert code == 1
        mine = {
            (f["system"], f["kind"], f["subject"]) for f in findings if f["username"] == username
        }
        assert mine == {
            ("jupyterhub", "missing", "hub user"),
            ("iam", "missing", "role"),
            ("efs", "missing", "access point"),
            ("freeipa", "differs", "team groups"),
        }
        (groups,) = [f for f in findings if f["username"] == username and f["system"] == "freeipa"]
        assert other_team.freeipa_group in groups["detail"]
        stray = [f for f in findings if f["subject"] == f"role {stray_role}"]
        assert [f["kind"] for f in stray] == ["orphan"]

        code, output = reconcile_command("--repair", username)
        assert code == 1
        (repair,) = [row for row in output if "repair" in row]
        assert (repair["repair"], repair["kind"]) == (username, "repair")
        run = LifecycleRun.objects.get(pk=repair["run"])
        assert run.state == LifecycleRun.State.SUCCEEDED, run.error

        code, findings = reconcile_command()
        assert [f for f in findings if f["username"] == username] == []
        assert hub_user(stack, username)["groups"] == [team_hub_group(team)]
        assert len(access_points(stack, username)) == 1
        assert [f["kind"] for f in findings if f["subject"] == f"role {stray_role}"] == ["orphan"]
    finally:
        role_delete(stack, stray_role)
