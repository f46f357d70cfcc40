"""The real local services the connectors are tested against, shared with the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox import aws, process
from tests.stack import stack_services

aws_stack = stack_services("aws")
# With the directory first, as the other tests sharing the session hub expect its LDAP logins.
hub_stack = stack_services("directory", "jupyterhub")


@pytest.fixture(scope="session")
def hub_endpoints(hub_stack: dict[str, str]) -> dict[str, str]:
    """The hub, emptied of what earlier sessions left when the stack is kept between runs."""
    api = f"{hub_stack['JUPYTERHUB_URL']}/hub/api"
    headers = {"Authorization": f"token {hub_stack['JUPYTERHUB_API_TOKEN']}"}
    for user in requests.get(f"{api}/users", headers=headers, timeout=10).json():
        for server in user.get("servers", {}):
            requests.delete(
                f"{api}/users/{user['name']}/servers/{server}", headers=headers, timeout=30
            )
        requests.delete(f"{api}/users/{user['name']}", headers=headers, timeout=30)
    for group in requests.get(f"{api}/groups", headers=headers, timeout=10).json():
        requests.delete(f"{api}/groups/{group['name']}", headers=headers, timeout=10)
    return hub_stack


def _aws_leftovers_remove(endpoints: dict[str, str]) -> None:
    """Access points and roles earlier sessions left when the stack is kept between runs."""
    efs = aws.client(endpoints, "efs")
    points = efs.describe_access_points(FileSystemId=endpoints["EFS_FILE_SYSTEM_ID"])
    for point in points["AccessPoints"]:
        efs.delete_access_point(AccessPointId=point["AccessPointId"])
    iam = aws.client(endpoints, "iam")
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        if not name.startswith("accessadmin-"):
            continue
        for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)


@pytest.fixture(scope="session")
def aws_endpoints(aws_stack: dict[str, str]) -> Iterator[dict[str, str]]:
    _aws_leftovers_remove(aws_stack)
    with pytest.MonkeyPatch.context() as patch:
        # boto3 takes credentials from the environment: only moto's fake ones, never real ones.
        patch.setenv("AWS_ACCESS_KEY_ID", aws_stack["AWS_ACCESS_KEY_ID"])
        patch.setenv("AWS_SECRET_ACCESS_KEY", aws_stack["AWS_SECRET_ACCESS_KEY"])
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        yield aws_stack


@pytest.fixture
def closed_url() -> str:
    """An address on loopback where nothing listens."""
    return f"http://{process.LOOPBACK}:{process.free_port()}"
