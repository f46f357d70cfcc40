"""Where moto is kinder than AWS, made as strict as AWS for what AccessAdmin calls.

Each rule follows botocore's service model for EFS (botocore/data/efs/2015-02-01/service-2.json)
and AWS's documented behaviour; the stand-in applies them in its server process (`apply`).

- CreateAccessPoint with a ClientToken already used answers 409 AccessPointAlreadyExists naming
  the access point made the first time (the error shape's required `AccessPointId`); moto makes a
  second one.
- DeleteAccessPoint of an unknown id answers 404 AccessPointNotFound; moto answers `{}`.
- A file system holds at most ACCESS_POINT_LIMIT access points (AWS's quota: 10,000 per file
  system); one more answers 403 AccessPointLimitExceeded. moto has no limit.
"""

from __future__ import annotations

import json
import os
from typing import Any

from moto.efs import models as efs_models
from moto.efs.exceptions import AccessPointNotFound, EFSError

ACCESS_POINT_LIMIT = int(os.environ.get("SANDBOX_EFS_ACCESS_POINT_LIMIT", "10000"))


class AccessPointAlreadyExists(EFSError):
    code = 409

    def __init__(self, access_point_id: str) -> None:
        super().__init__(
            "AccessPointAlreadyExists",
            f"Access point {access_point_id} already exists with this client token.",
        )
        self.description = json.dumps(
            {
                "__type": "AccessPointAlreadyExists",
                "ErrorCode": "AccessPointAlreadyExists",
                "Message": f"Access point {access_point_id} already exists with this client token.",
                "AccessPointId": access_point_id,
            }
        )


class AccessPointLimitExceeded(EFSError):
    code = 403

    def __init__(self, file_system_id: str) -> None:
        super().__init__(
            "AccessPointLimitExceeded",
            f"File system {file_system_id} already has {ACCESS_POINT_LIMIT} access points.",
        )


def apply() -> None:
    backend = efs_models.EFSBackend
    if getattr(backend, "_strict_as_aws", False):
        return
    create, delete = backend.create_access_point, backend.delete_access_point

    def create_access_point(self: Any, client_token: str, tags: Any, file_system_id: str,
                            *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        points = [p for p in self.access_points.values() if p.file_system_id == file_system_id]
        if client_token:
            for point in points:
                if point.client_token == client_token:
                    raise AccessPointAlreadyExists(point.access_point_id)
        if len(points) >= ACCESS_POINT_LIMIT:
            raise AccessPointLimitExceeded(file_system_id)
        return create(self, client_token, tags, file_system_id, *args, **kwargs)

    def delete_access_point(self: Any, access_point_id: str) -> None:
        if access_point_id not in self.access_points:
            raise AccessPointNotFound(access_point_id)
        delete(self, access_point_id)

    backend.create_access_point = create_access_point
    backend.delete_access_point = delete_access_point
    backend._strict_as_aws = True
