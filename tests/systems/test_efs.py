"""EFS access points against the moto server: one per person, found by tags, never duplicated."""

from __future__ import annotations

from typing import Any

import pytest

from onboarding.errors import PermanentError, TransientError
from onboarding.systems.efs.client import EFS
from sandbox import aws

pytestmark = pytest.mark.stack


@pytest.fixture
def efs(aws_endpoints: dict[str, str]) -> EFS:
    return EFS(
        file_system_id=aws_endpoints["EFS_FILE_SYSTEM_ID"],
        region=aws_endpoints["AWS_REGION"],
        endpoint_url=aws_endpoints["AWS_ENDPOINT_URL"],
    )


@pytest.fixture
def efs_client(aws_endpoints: dict[str, str]) -> Any:
    """Looks at moto directly, to check what the connector did."""
    return aws.client(aws_endpoints, "efs")


def _access_points_of(efs_client: Any, file_system_id: str, username: str) -> list[dict]:
    described = efs_client.describe_access_points(FileSystemId=file_system_id)["AccessPoints"]
    return [ap for ap in described if {"Key": "username", "Value": username} in ap.get("Tags", [])]


def test_access_point_is_created_found_and_not_duplicated(efs: EFS, efs_client: Any) -> None:
    assert efs.access_point_find(username="ap-repeat") is None

    created = efs.access_point_create(username="ap-repeat", team="vision", uid=21001, gid=21001)
    found = efs.access_point_find(username="ap-repeat")
    again = efs.access_point_create(username="ap-repeat", team="vision", uid=21001, gid=21001)

    assert found == created
    assert again == created
    assert len(_access_points_of(efs_client, efs.file_system_id, "ap-repeat")) == 1


def test_access_point_roots_the_person_in_their_data_folder_as_their_posix_user(
    efs: EFS, efs_client: Any
) -> None:
    created = efs.access_point_create(username="ap-shape", team="speech", uid=21002, gid=31000)

    [described] = _access_points_of(efs_client, efs.file_system_id, "ap-shape")
    assert described["AccessPointId"] == created.id
    assert described["FileSystemId"] == efs.file_system_id
    assert described["PosixUser"] == {"Uid": 21002, "Gid": 31000}
    assert described["RootDirectory"] == {
        "Path": "/data/ap-shape",
        "CreationInfo": {"OwnerUid": 21002, "OwnerGid": 31000, "Permissions": "0750"},
    }
    tags = {tag["Key"]: tag["Value"] for tag in described["Tags"]}
    assert tags == {"username": "ap-shape", "team": "speech", "managed-by": "accessadmin"}
    assert (created.path, created.uid, created.gid) == ("/data/ap-shape", 21002, 31000)
    assert (created.username, created.team) == ("ap-shape", "speech")
    assert created.arn.endswith(f":access-point/{created.id}")


def test_access_point_with_other_ids_than_the_existing_one_is_refused(efs: EFS) -> None:
    efs.access_point_create(username="ap-ids", team="vision", uid=21003, gid=21003)

    with pytest.raises(PermanentError, match="uid 21003 gid 21003, not uid 21999 gid 21003"):
        efs.access_point_create(username="ap-ids", team="vision", uid=21999, gid=21003)


def test_access_point_of_a_person_is_not_found_for_another(efs: EFS) -> None:
    efs.access_point_create(username="ap-owner", team="vision", uid=21004, gid=21004)

    assert efs.access_point_find(username="ap-owner2") is None
    assert efs.access_point_find(username="ap-own") is None


def test_access_point_not_managed_by_accessadmin_is_ignored(efs: EFS, efs_client: Any) -> None:
    efs_client.create_access_point(
        FileSystemId=efs.file_system_id,
        PosixUser={"Uid": 21005, "Gid": 21005},
        RootDirectory={"Path": "/data/ap-handmade"},
        Tags=[{"Key": "username", "Value": "ap-handmade"}],
    )

    assert efs.access_point_find(username="ap-handmade") is None
    assert efs.access_point_delete(username="ap-handmade") is False
    assert len(_access_points_of(efs_client, efs.file_system_id, "ap-handmade")) == 1


def test_delete_removes_every_access_point_of_the_person_and_repeating_it_is_fine(
    efs: EFS, efs_client: Any
) -> None:
    efs.access_point_create(username="ap-gone", team="vision", uid=21006, gid=21006)
    # As if two runs had raced: a second access point with the same tags.
    efs_client.create_access_point(
        FileSystemId=efs.file_system_id,
        PosixUser={"Uid": 21006, "Gid": 21006},
        RootDirectory={"Path": "/data/ap-gone"},
        Tags=[
            {"Key": "username", "Value": "ap-gone"},
            {"Key": "managed-by", "Value": "accessadmin"},
        ],
    )
    neighbour = efs.access_point_create(username="ap-stays", team="vision", uid=21007, gid=21007)

    assert efs.access_point_delete(username="ap-gone") is True

    assert efs.access_point_find(username="ap-gone") is None
    assert _access_points_of(efs_client, efs.file_system_id, "ap-gone") == []
    assert efs.access_point_find(username="ap-stays") == neighbour
    assert efs.access_point_delete(username="ap-gone") is False


def test_round_trips_are_one_per_request(efs: EFS) -> None:
    efs.access_point_find(username="ap-trips")
    assert efs.round_trips == 1

    efs.access_point_create(username="ap-trips", team="vision", uid=21008, gid=21008)
    assert efs.round_trips == 3

    efs.access_point_create(username="ap-trips", team="vision", uid=21008, gid=21008)
    assert efs.round_trips == 4

    efs.access_point_delete(username="ap-trips")
    assert efs.round_trips == 6


def test_unreachable_endpoint_is_transient(aws_endpoints: dict[str, str], closed_url: str) -> None:
    efs = EFS(
        file_system_id=aws_endpoints["EFS_FILE_SYSTEM_ID"],
        region=aws_endpoints["AWS_REGION"],
        endpoint_url=closed_url,
    )

    with pytest.raises(TransientError, match="cannot reach"):
        efs.access_point_create(username="ap-offline", team="vision", uid=21009, gid=21009)
    assert efs.round_trips == 1


def test_from_settings_uses_the_configured_file_system(
    settings: Any, aws_endpoints: dict[str, str]
) -> None:
    settings.EFS_FILE_SYSTEM_ID = aws_endpoints["EFS_FILE_SYSTEM_ID"]
    settings.AWS_REGION = aws_endpoints["AWS_REGION"]
    settings.AWS_ENDPOINT_URL = aws_endpoints["AWS_ENDPOINT_URL"]

    efs = EFS.from_settings()
    created = efs.access_point_create(username="ap-settings", team="vision", uid=21010, gid=21010)

    assert created.file_system_id == aws_endpoints["EFS_FILE_SYSTEM_ID"]


def test_from_settings_without_a_file_system_is_refused(settings: Any) -> None:
    settings.EFS_FILE_SYSTEM_ID = ""

    with pytest.raises(PermanentError, match="EFS_FILE_SYSTEM_ID"):
        EFS.from_settings()


def test_a_recorded_id_is_one_call_and_no_listing(efs: EFS) -> None:
    created = efs.access_point_create(username="ap-byid", team="vision", uid=21020, gid=21020)
    before = efs.round_trips
    assert efs.access_point_find(username="ap-byid", access_point_id=created.id) == created
    assert efs.round_trips == before + 1
    assert efs.access_point_delete(username="ap-byid", access_point_id=created.id)
    assert efs.round_trips == before + 3
    assert efs.access_point_find(username="ap-byid") is None


def test_a_stale_or_foreign_recorded_id_falls_back_to_the_tags(efs: EFS) -> None:
    mine = efs.access_point_create(username="ap-stale", team="vision", uid=21021, gid=21021)
    other = efs.access_point_create(username="ap-other", team="vision", uid=21022, gid=21022)
    # Another person's id is never taken for this person's.
    assert efs.access_point_find(username="ap-stale", access_point_id=other.id) == mine
    efs.access_point_delete(username="ap-other", access_point_id=other.id)
    assert efs.access_point_find(username="ap-stale", access_point_id=other.id) == mine
    assert efs.access_point_delete(username="ap-stale", access_point_id=other.id)
    assert efs.access_point_find(username="ap-stale") is None


def test_a_request_repeated_after_a_lost_answer_gets_the_first_access_point(
    efs: EFS, efs_client: Any
) -> None:
    first = efs.access_point_create(
        username="ap-token", team="vision", uid=21023, gid=21023,
        look_first=False, request_token="accessadmin-run-7-1",
    )  # fmt: skip
    again = efs.access_point_create(
        username="ap-token", team="vision", uid=21023, gid=21023,
        look_first=False, request_token="accessadmin-run-7-1",
    )  # fmt: skip
    assert again == first
    assert len(_access_points_of(efs_client, efs.file_system_id, "ap-token")) == 1
