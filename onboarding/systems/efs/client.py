"""EFS access points: each person reaches the shared file system at /data/<username>, as their own
POSIX user.

An access point is found by the id AccessAdmin recorded when it made it (one DescribeAccessPoints
call), and by its tags (`username`, `managed-by=accessadmin`) when no id is known or the recorded
one is gone (a listing of the whole file system, 100 a page). Never by the ClientToken it was
created with: a token only makes the retries of one request safe, while the tags hold across
runs, show in the console and say who owns what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from onboarding.errors import AlreadyExists, NotFound, PermanentError
from onboarding.systems import _aws
from onboarding.systems._counting import RoundTrips, request_allowed

SYSTEM = "efs"
ROOT = "/data"
# Owner and their group may enter; others may not even list the folder.
PERMISSIONS = "0750"
# EFS's quota of access points per file system (AccessPointLimitExceeded past it).
ACCESS_POINT_LIMIT = 10_000
# AWS still lists an access point while deleting it; it no longer serves anyone.
_GONE_STATES = frozenset({"deleting", "deleted"})


@dataclass(frozen=True)
class AccessPoint:
    id: str
    arn: str
    file_system_id: str
    path: str
    uid: int
    gid: int
    username: str
    team: str


class EFS:
    """The access points AccessAdmin keeps on one file system."""

    def __init__(self, file_system_id: str, region: str, endpoint_url: str | None = None) -> None:
        self.file_system_id = file_system_id
        self._trips = RoundTrips()
        self._client = _aws.client(
            "efs", region=region, endpoint_url=endpoint_url, on_request=self._count
        )

    @property
    def round_trips(self) -> int:
        """Requests this thread has sent through this connector."""
        return self._trips.count

    @classmethod
    def from_settings(cls) -> EFS:
        if not settings.EFS_FILE_SYSTEM_ID:
            raise PermanentError(SYSTEM, "EFS_FILE_SYSTEM_ID is not set")
        return cls(
            file_system_id=settings.EFS_FILE_SYSTEM_ID,
            region=settings.AWS_REGION,
            endpoint_url=settings.AWS_ENDPOINT_URL or None,
        )

    def access_point_find(
        self, *, username: str, access_point_id: str | None = None
    ) -> AccessPoint | None:
        """The person's access point: by its recorded id when one is given and still theirs,
        else by its tags."""
        if access_point_id:
            found = self.access_point_get(access_point_id)
            if found is not None and found.username == username:
                return found
        tagged = self._tagged(username)
        return tagged[0] if tagged else None

    def access_point_get(self, access_point_id: str) -> AccessPoint | None:
        """One access point by id; None when it is gone or not AccessAdmin's."""
        try:
            with _aws.translated_errors(SYSTEM):
                described = self._client.describe_access_points(AccessPointId=access_point_id)
        except NotFound:
            return None
        for description in described["AccessPoints"]:
            if description.get("LifeCycleState") in _GONE_STATES:
                continue
            tags = _aws.tags_of(description.get("Tags"))
            if tags.get(_aws.MANAGED_BY_KEY) == _aws.MANAGED_BY_VALUE:
                return _access_point(description)
        return None

    def access_points(self) -> list[AccessPoint]:
        """Every access point AccessAdmin made on the file system, whoever it belongs to."""
        return self._tagged(None)

    def access_points_all(self) -> list[str]:
        """The ids of every access point on the file system, whoever made them (its quota counts
        them all)."""
        with _aws.translated_errors(SYSTEM):
            pages = self._client.get_paginator("describe_access_points").paginate(
                FileSystemId=self.file_system_id
            )
            return [point["AccessPointId"] for page in pages for point in page["AccessPoints"]]

    def file_system_describe(self) -> str:
        """One harmless call: the file system exists and these credentials may see it."""
        with _aws.translated_errors(SYSTEM):
            found = self._client.describe_file_systems(FileSystemId=self.file_system_id)
        file_system = found["FileSystems"][0]
        return f"file system {file_system['FileSystemId']} is {file_system['LifeCycleState']}"

    def access_point_create(
        self,
        *,
        username: str,
        team: str,
        uid: int,
        gid: int,
        look_first: bool = True,
        request_token: str | None = None,
    ) -> AccessPoint:
        """The person's access point, made if missing. A caller sure there is none yet may skip
        the look (it lists every access point of the file system); `request_token` makes AWS
        answer a repeated request with the access point it already made."""
        existing = self.access_point_find(username=username) if look_first else None
        if existing is not None:
            if (existing.uid, existing.gid) != (uid, gid):
                raise PermanentError(
                    SYSTEM,
                    f"access point {existing.id} of {username} runs as uid {existing.uid} "
                    f"gid {existing.gid}, not uid {uid} gid {gid}; delete it or fix the "
                    "person's ids before onboarding again",
                )
            return existing
        try:
            with _aws.translated_errors(SYSTEM):
                created = self._client.create_access_point(
                    **({"ClientToken": request_token} if request_token else {}),
                    FileSystemId=self.file_system_id,
                    PosixUser={"Uid": uid, "Gid": gid},
                    RootDirectory={
                        "Path": f"{ROOT}/{username}",
                        "CreationInfo": {
                            "OwnerUid": uid,
                            "OwnerGid": gid,
                            "Permissions": PERMISSIONS,
                        },
                    },
                    Tags=_aws.tag_list(
                        {
                            "username": username,
                            "team": team,
                            _aws.MANAGED_BY_KEY: _aws.MANAGED_BY_VALUE,
                        }
                    ),
                )
        except AlreadyExists as error:
            # The same request token again (a retry after a lost answer): AWS names the access
            # point it made the first time (AccessPointAlreadyExists.AccessPointId).
            existing_id = error.__cause__.response.get("AccessPointId") if error.__cause__ else None
            existing = self.access_point_get(existing_id) if existing_id else None
            if existing is None:
                raise
            return existing
        return _access_point(created)

    def access_point_delete(self, *, username: str, access_point_id: str | None = None) -> bool:
        """Delete the person's access point (True if there was one); their files stay on the
        file system. Without a recorded id that is still theirs, every one tagged for them."""
        recorded = self.access_point_get(access_point_id) if access_point_id else None
        if recorded is not None and recorded.username == username:
            found = [recorded]
        else:
            found = self._tagged(username)
        for access_point in found:
            with _aws.translated_errors(SYSTEM, missing_ok=True):
                self._client.delete_access_point(AccessPointId=access_point.id)
        return bool(found)

    def _tagged(self, username: str | None) -> list[AccessPoint]:
        wanted = {_aws.MANAGED_BY_KEY: _aws.MANAGED_BY_VALUE}
        if username is not None:
            wanted["username"] = username
        found = []
        with _aws.translated_errors(SYSTEM):
            pages = self._client.get_paginator("describe_access_points").paginate(
                FileSystemId=self.file_system_id
            )
            for page in pages:
                for description in page["AccessPoints"]:
                    if description.get("LifeCycleState") in _GONE_STATES:
                        continue
                    if wanted.items() <= _aws.tags_of(description.get("Tags")).items():
                        found.append(_access_point(description))
        return found

    def _count(self, **_: Any) -> None:
        request_allowed()
        self._trips.add()


def _access_point(description: dict[str, Any]) -> AccessPoint:
    tags = _aws.tags_of(description.get("Tags"))
    posix_user = description.get("PosixUser", {})
    return AccessPoint(
        id=description["AccessPointId"],
        arn=description["AccessPointArn"],
        file_system_id=description["FileSystemId"],
        path=description.get("RootDirectory", {}).get("Path", "/"),
        uid=posix_user.get("Uid", -1),
        gid=posix_user.get("Gid", -1),
        username=tags.get("username", ""),
        team=tags.get("team", ""),
    )
