"""`python -m sandbox up` heals a stack whose services died: same ports, same AWS state.

Long-running workers keep the endpoints they read at start, so a service that comes back on a
new port, or a moto that forgot its ids, is lost to them. These tests kill services with
SIGKILL on a stack of their own, so the session's stack is never disturbed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from python_freeipa import ClientMeta

from sandbox import aws, freeipa, process, stack
from tests.processes import process_running, wait_until

pytestmark = pytest.mark.stack

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = "directory,freeipa,aws"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


@dataclass(frozen=True)
class PersonInAws:
    """What onboarding leaves in AWS for one person, as AWS described it right after."""

    username: str
    access_point: dict
    role: dict
    inline_policy: dict


def _sandbox(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _up(state_dir: Path) -> subprocess.CompletedProcess[str]:
    return _sandbox("up", "--state-dir", state_dir, "--services", SERVICES)


@pytest.fixture(scope="module")
def state_dir() -> Iterator[Path]:
    # Outside pytest's 0700 temp tree: ns-slapd runs as dirsrv and must reach the folder.
    state_dir = Path(tempfile.mkdtemp(prefix="accessadmin-healing-"))
    state_dir.chmod(0o755)
    try:
        result = _up(state_dir)
        assert result.returncode == 0, result.stderr
        yield state_dir
    finally:
        _sandbox("down", "--state-dir", state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def _kill(pid_path: Path) -> None:
    pid = process.read_pid(pid_path)
    assert pid is not None and process.pid_alive(pid_path), f"{pid_path} names no running process"
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not process_running(pid), timeout=10)


def _freeipa_admin(endpoints: dict[str, str]) -> ClientMeta:
    client = ClientMeta(endpoints["FREEIPA_HOST"], verify_ssl=endpoints["FREEIPA_CA_FILE"])
    client.login(endpoints["FREEIPA_USERNAME"], endpoints["FREEIPA_PASSWORD"])
    return client


def _onboard_in_aws(endpoints: dict[str, str], username: str) -> PersonInAws:
    efs = aws.client(endpoints, "efs")
    iam = aws.client(endpoints, "iam")
    access_point = efs.create_access_point(
        FileSystemId=endpoints["EFS_FILE_SYSTEM_ID"],
        PosixUser={"Uid": 1700, "Gid": 1700},
        RootDirectory={
            "Path": f"/data/{username}",
            "CreationInfo": {"OwnerUid": 1700, "OwnerGid": 1700, "Permissions": "0750"},
        },
        Tags=[{"Key": "accessadmin:person", "Value": username}],
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": endpoints["IAM_SAML_PROVIDER_ARN"]},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:sub": username}},
            }
        ],
    }
    iam.create_role(
        RoleName=f"ml-{username}",
        Path="/accessadmin/",
        AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": "accessadmin:person", "Value": username}],
    )
    iam.tag_role(RoleName=f"ml-{username}", Tags=[{"Key": "accessadmin:team", "Value": "ml"}])
    iam.attach_role_policy(RoleName=f"ml-{username}", PolicyArn=S3_READ)
    data_access = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": f"arn:aws:s3:::accessadmin-data/{username}/*",
            }
        ],
    }
    iam.put_role_policy(
        RoleName=f"ml-{username}", PolicyName="data", PolicyDocument=json.dumps(data_access)
    )
    return _described_in_aws(endpoints, username, access_point["AccessPointId"])


def _described_in_aws(
    endpoints: dict[str, str], username: str, access_point_id: str
) -> PersonInAws:
    efs = aws.client(endpoints, "efs")
    iam = aws.client(endpoints, "iam")
    role_name = f"ml-{username}"
    access_points = efs.describe_access_points(AccessPointId=access_point_id)["AccessPoints"]
    role = iam.get_role(RoleName=role_name)["Role"]
    role["AttachedPolicies"] = iam.list_attached_role_policies(RoleName=role_name)[
        "AttachedPolicies"
    ]
    role["Tags"] = iam.list_role_tags(RoleName=role_name)["Tags"]
    inline = iam.get_role_policy(RoleName=role_name, PolicyName="data")
    inline.pop("ResponseMetadata")
    return PersonInAws(username, access_points[0], role, inline)


def _assert_aws_kept(endpoints: dict[str, str], before: PersonInAws) -> None:
    efs = aws.client(endpoints, "efs")
    file_systems = efs.describe_file_systems()["FileSystems"]
    assert [fs["FileSystemId"] for fs in file_systems] == [endpoints["EFS_FILE_SYSTEM_ID"]]
    saml_providers = aws.client(endpoints, "iam").list_saml_providers()["SAMLProviderList"]
    assert [p["Arn"] for p in saml_providers] == [endpoints["IAM_SAML_PROVIDER_ARN"]]

    after = _described_in_aws(endpoints, before.username, before.access_point["AccessPointId"])

    assert after == before
    assert after.access_point["RootDirectory"]["Path"] == f"/data/{before.username}"
    assert {"Key": "accessadmin:team", "Value": "ml"} in after.role["Tags"]
    assert [p["PolicyArn"] for p in after.role["AttachedPolicies"]] == [S3_READ]


def test_up_brings_killed_services_back_on_their_ports_with_their_state(state_dir: Path) -> None:
    endpoints_file = state_dir / stack.ENDPOINTS_FILE
    env_before = endpoints_file.read_text()
    endpoints = stack.read_endpoints(state_dir)
    _freeipa_admin(endpoints).user_add("healer", o_givenname="Heal", o_sn="Er", o_cn="Heal Er")
    alice = _onboard_in_aws(endpoints, "alice")

    _kill(freeipa.pid_file(state_dir))
    _kill(aws.pid_file(state_dir))
    status = _sandbox("status", "--state-dir", state_dir)
    result = _up(state_dir)

    assert status.returncode == 1
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [
        ["directory", "up"],
        ["freeipa", "DOWN"],
        ["aws", "DOWN"],
    ]
    assert result.returncode == 0, result.stderr
    assert endpoints_file.read_text() == env_before
    assert _sandbox("status", "--state-dir", state_dir).returncode == 0
    healer = _freeipa_admin(endpoints).user_show(a_uid="healer")["result"]
    assert healer["uid"] == ["healer"]
    _assert_aws_kept(endpoints, alice)


def test_moto_state_survives_down_and_up(state_dir: Path) -> None:
    endpoints = stack.read_endpoints(state_dir)
    bob = _onboard_in_aws(endpoints, "bob")

    assert _sandbox("down", "--state-dir", state_dir).returncode == 0
    assert not process.port_answers(int(endpoints["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))
    result = _up(state_dir)

    assert result.returncode == 0, result.stderr
    assert stack.read_endpoints(state_dir) == endpoints
    _assert_aws_kept(endpoints, bob)


def test_up_refuses_to_move_a_service_whose_port_was_taken(state_dir: Path) -> None:
    endpoints = stack.read_endpoints(state_dir)
    port = int(endpoints["FREEIPA_HOST"].rsplit(":", 1)[1])
    _kill(freeipa.pid_file(state_dir))

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((process.LOOPBACK, port))
        squatter.listen()
        status = _sandbox("status", "--state-dir", state_dir)
        refused = _up(state_dir)

    assert "freeipa     DOWN" in status.stdout
    assert "something else answers on its port" in status.stdout
    assert refused.returncode == 1
    assert "failed in freeipa" in refused.stderr
    assert f"freeipa cannot come back on 127.0.0.1:{port}" in refused.stderr
    assert stack.read_endpoints(state_dir) == endpoints
    healed = _up(state_dir)
    assert healed.returncode == 0, healed.stderr
    assert stack.read_endpoints(state_dir) == endpoints
    assert _freeipa_admin(endpoints).user_find(o_uid="admin")["count"] == 1
