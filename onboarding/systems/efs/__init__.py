"""EFS: each person's access point to the shared file system, /data/<username>, as their uid/gid."""

from __future__ import annotations

import re

from django.conf import settings

from onboarding.errors import AccessAdminError
from onboarding.models import Person
from onboarding.systems.base import Check, ManagedObject, System, SystemState
from onboarding.systems.efs import steps as s
from onboarding.systems.efs.client import ACCESS_POINT_LIMIT, EFS, ROOT, AccessPoint

ACCESS_POINT = "access point"
# The FileSystemId shape of botocore/data/efs/2015-02-01/service-2.json.
_FILE_SYSTEM_ID = re.compile(
    r"(arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-:]+:file-system/)?fs-[0-9a-f]{8,40}"
)


class EFSSystem(System):
    name = "efs"
    label = "EFS"
    steps = {
        ("onboard", "access"): (s.ACCESS_POINT_CREATE,),
        ("offboard", "services"): (s.ACCESS_POINT_DELETE,),
        ("reinstate", "access"): (s.ACCESS_POINT_CREATE,),
        ("repair", "access"): (s.ACCESS_POINT_REPAIR,),
    }
    provides = ("access_point_arn",)

    def client_build(self) -> EFS:
        return EFS.from_settings()

    @staticmethod
    def access_point_path(username: str) -> str:
        """Where a person's access point is rooted on the file system."""
        return f"{ROOT}/{username}"

    def person_state(self, person: Person) -> SystemState:
        access_point = self._find(person)
        if access_point is None:
            return SystemState(self.label, False, "no access point")
        return SystemState(
            self.label, True, f"access point {access_point.id} at {access_point.path}"
        )

    def inventory(self) -> list[ManagedObject]:
        """Every access point AccessAdmin tagged on the file system: one listing."""
        return [
            ManagedObject(
                self.name,
                ACCESS_POINT,
                point.id,
                point.username,
                f"{point.path} as uid {point.uid} gid {point.gid}",
                {"path": point.path, "uid": str(point.uid), "gid": str(point.gid)},
            )
            for point in self.client.access_points()
        ]

    def orphan_remove(self, item: ManagedObject) -> None:
        """The access point goes; the files under its path stay on the file system."""
        self.client.access_point_delete(username=item.username, access_point_id=item.id)

    def expected(self, person: Person) -> list[ManagedObject]:
        compared = {"path": self.access_point_path(person.username)}
        if person.uid_number is not None:
            compared |= {"uid": str(person.uid_number), "gid": str(person.gid_number)}
        return [ManagedObject(self.name, ACCESS_POINT, "", person.username, "", compared)]

    def fact(self, name: str, person: Person) -> str | None:
        if name != "access_point_arn":
            raise KeyError(name)
        access_point = self._find(person)
        return access_point.arn if access_point else None

    def _find(self, person: Person) -> AccessPoint | None:
        return self.client.access_point_find(
            username=person.username, access_point_id=person.recorded("access_point_id")
        )

    def settings_problems(self) -> list[str]:
        problems = []
        if not settings.EFS_FILE_SYSTEM_ID:
            problems.append("EFS_FILE_SYSTEM_ID is not set")
        elif not _FILE_SYSTEM_ID.fullmatch(settings.EFS_FILE_SYSTEM_ID):
            value = settings.EFS_FILE_SYSTEM_ID
            problems.append(f"EFS_FILE_SYSTEM_ID {value!r} is not a file system id (fs-<hex>)")
        if not settings.AWS_REGION:
            problems.append("AWS_REGION is not set")
        return problems

    def credentials_check(self) -> str:
        return self.client.file_system_describe()

    def preflight(self) -> list[Check]:
        try:
            described = self.client.file_system_describe()
            in_use = len(self.client.access_points_all())
        except AccessAdminError as error:
            return [Check("file system", Check.FAILED, str(error))]
        verdict = Check.WARNING if in_use >= ACCESS_POINT_LIMIT * 0.9 else Check.OK
        fix = "ask AWS for more access points per file system" if verdict != Check.OK else ""
        return [
            Check("file system", Check.OK, described),
            Check("access points", verdict, f"{in_use} of {ACCESS_POINT_LIMIT} in use", fix),
        ]
