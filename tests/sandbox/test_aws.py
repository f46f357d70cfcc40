"""The moto stand-in: it answers, holds the home file system and the freeipa SAML provider,
serves EFS access points the way onboarding uses them, and survives its own restarts."""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path

import pytest
import requests

from sandbox import aws, process
from tests.processes import process_running, wait_until
from tests.stack import stack_services

pytestmark = pytest.mark.stack


def _start_timed(state_dir: Path) -> dict[str, str]:
    started = time.monotonic()
    endpoints = aws.start(state_dir, {})
    print(f"moto start: {time.monotonic() - started:.2f} s")
    return endpoints


def _moto_pid(state_dir: Path) -> int:
    pid = process.read_pid(state_dir / "aws" / "moto.pid")
    assert pid is not None
    return pid


moto = stack_services("aws")


def test_moto_answers_on_loopback_with_fake_credentials(moto: dict[str, str]) -> None:
    assert moto["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert moto["AWS_REGION"] == "eu-west-1"
    assert requests.get(f"{moto['AWS_ENDPOINT_URL']}/moto-api/config", timeout=5).ok
    identity = aws.client(moto, "sts").get_caller_identity()
    assert identity["Account"] == "123456789012"


def test_home_file_system_exists(moto: dict[str, str]) -> None:
    efs = aws.client(moto, "efs")
    found = efs.describe_file_systems(FileSystemId=moto["EFS_FILE_SYSTEM_ID"])["FileSystems"]
    assert [fs["FileSystemId"] for fs in found] == [moto["EFS_FILE_SYSTEM_ID"]]


def test_freeipa_saml_provider_exists(moto: dict[str, str]) -> None:
    arn = moto["IAM_SAML_PROVIDER_ARN"]
    assert arn == "arn:aws:iam::123456789012:saml-provider/freeipa"
    provider = aws.client(moto, "iam").get_saml_provider(SAMLProviderArn=arn)
    assert len(provider["SAMLMetadataDocument"]) >= 1000
    assert "IDPSSODescriptor" in provider["SAMLMetadataDocument"]


def test_access_point_can_be_created_described_and_deleted(moto: dict[str, str]) -> None:
    efs = aws.client(moto, "efs")
    created = efs.create_access_point(
        ClientToken="home-alice",
        FileSystemId=moto["EFS_FILE_SYSTEM_ID"],
        PosixUser={"Uid": 1500, "Gid": 1500},
        RootDirectory={
            "Path": "/home/alice",
            "CreationInfo": {"OwnerUid": 1500, "OwnerGid": 1500, "Permissions": "0700"},
        },
        Tags=[{"Key": "accessadmin:person", "Value": "alice"}],
    )
    access_point_id = created["AccessPointId"]

    described = efs.describe_access_points(AccessPointId=access_point_id)["AccessPoints"]
    assert described[0]["PosixUser"] == {"Uid": 1500, "Gid": 1500}
    assert described[0]["RootDirectory"]["Path"] == "/home/alice"
    assert described[0]["RootDirectory"]["CreationInfo"]["Permissions"] == "0700"
    by_file_system = efs.describe_access_points(FileSystemId=moto["EFS_FILE_SYSTEM_ID"])
    assert access_point_id in [ap["AccessPointId"] for ap in by_file_system["AccessPoints"]]

    efs.delete_access_point(AccessPointId=access_point_id)
    remaining = efs.describe_access_points(FileSystemId=moto["EFS_FILE_SYSTEM_ID"])
    assert access_point_id not in [ap["AccessPointId"] for ap in remaining["AccessPoints"]]


def test_start_reuses_the_running_server(tmp_path: Path) -> None:
    first = _start_timed(tmp_path)
    try:
        pid = _moto_pid(tmp_path)
        assert _start_timed(tmp_path) == first
        assert _moto_pid(tmp_path) == pid
    finally:
        aws.stop(tmp_path)


def test_restart_after_a_crash_keeps_port_file_system_and_provider(tmp_path: Path) -> None:
    first = _start_timed(tmp_path)
    try:
        pid = _moto_pid(tmp_path)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not process_running(pid))

        second = _start_timed(tmp_path)

        assert second == first
        efs = aws.client(second, "efs")
        assert len(efs.describe_file_systems()["FileSystems"]) == 1
        assert aws.client(second, "iam").get_saml_provider(
            SAMLProviderArn=second["IAM_SAML_PROVIDER_ARN"]
        )
    finally:
        aws.stop(tmp_path)


def test_reset_moto_gets_file_system_and_provider_again(tmp_path: Path) -> None:
    first = _start_timed(tmp_path)
    try:
        requests.post(f"{first['AWS_ENDPOINT_URL']}/moto-api/reset", timeout=10).raise_for_status()

        second = _start_timed(tmp_path)

        efs = aws.client(second, "efs")
        found = efs.describe_file_systems(FileSystemId=second["EFS_FILE_SYSTEM_ID"])
        assert found["FileSystems"]
        assert aws.client(second, "iam").get_saml_provider(
            SAMLProviderArn=second["IAM_SAML_PROVIDER_ARN"]
        )
    finally:
        aws.stop(tmp_path)


def test_state_saved_by_another_moto_stops_the_start_with_a_reason(tmp_path: Path) -> None:
    state_file = aws.state_file(tmp_path)
    state_file.parent.mkdir(parents=True)
    state_file.write_bytes(pickle.dumps({"format": 1, "moto": "0.0.1"}))
    try:
        began = time.monotonic()
        with pytest.raises(RuntimeError, match="exited before"):
            aws.start(tmp_path, {})

        assert time.monotonic() - began < aws.START_TIMEOUT_SECONDS / 2
        moto_log = (tmp_path / "aws" / "moto.log").read_text()
        assert f"{state_file} was saved by" in moto_log
        assert "remove it to start moto empty" in moto_log
    finally:
        aws.stop(tmp_path)


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    endpoints = _start_timed(tmp_path)
    pid = _moto_pid(tmp_path)

    aws.stop(tmp_path)

    assert not process_running(pid)
    assert not process.port_answers(int(endpoints["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))
    aws.stop(tmp_path)


def test_a_repeated_client_token_names_the_access_point_made_the_first_time(
    moto: dict[str, str],
) -> None:
    """AWS (botocore's EFS model, AccessPointAlreadyExists) answers 409 with the existing id;
    moto on its own would make a second access point."""
    efs = aws.client(moto, "efs")
    request = {
        "ClientToken": "token-repeat-1",
        "FileSystemId": moto["EFS_FILE_SYSTEM_ID"],
        "PosixUser": {"Uid": 30001, "Gid": 30001},
        "RootDirectory": {"Path": "/data/token-repeat"},
    }
    first = efs.create_access_point(**request)["AccessPointId"]
    with pytest.raises(efs.exceptions.AccessPointAlreadyExists) as raised:
        efs.create_access_point(**request)
    assert raised.value.response["AccessPointId"] == first
    listed = efs.describe_access_points(FileSystemId=moto["EFS_FILE_SYSTEM_ID"])["AccessPoints"]
    assert [p["AccessPointId"] for p in listed].count(first) == 1
    assert sum(p["RootDirectory"]["Path"] == "/data/token-repeat" for p in listed) == 1
    efs.delete_access_point(AccessPointId=first)


def test_deleting_an_unknown_access_point_is_not_found(moto: dict[str, str]) -> None:
    efs = aws.client(moto, "efs")
    with pytest.raises(efs.exceptions.AccessPointNotFound):
        efs.delete_access_point(AccessPointId="fsap-0000000000000dead")


def test_throttling_refuses_writes_over_the_rate_as_aws_does_and_lets_reads_through(
    moto: dict[str, str],
) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    control = f"{moto['AWS_ENDPOINT_URL']}/sandbox-api/throttle"
    iam = boto3.client(
        "iam", endpoint_url=moto["AWS_ENDPOINT_URL"], region_name=moto["AWS_REGION"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip
    requests.post(control, json={"iam": 1}, timeout=10).raise_for_status()
    try:
        codes = []
        for n in range(4):
            try:
                iam.tag_role(RoleName="missing-role", Tags=[{"Key": "n", "Value": str(n)}])
            except ClientError as error:
                codes.append(error.response["Error"]["Code"])
        reads = [iam.list_roles()["ResponseMetadata"]["HTTPStatusCode"] for _ in range(4)]
        said = requests.get(control, timeout=10).json()
    finally:
        requests.post(control, json={}, timeout=10).raise_for_status()

    assert codes.count("Throttling") >= 2, codes  # one token a second: the rest are refused
    assert "NoSuchEntity" in codes  # the one let through reached moto
    assert reads == [200] * 4
    assert said["rates"] == {"iam": 1.0} and said["refused"]["iam"] >= 2
    assert requests.get(control, timeout=10).json() == {"rates": {}, "refused": {}}
