"""EFS's steps: the person's access point at /data/<username>, and deleting it (the data stays)."""

from __future__ import annotations

from onboarding.errors import PermanentError
from onboarding.steps import PlanStep, StepContext
from onboarding.systems.efs.client import EFS, ROOT, AccessPoint


class EFSStep(PlanStep):
    system = "efs"

    @staticmethod
    def efs(ctx: StepContext) -> EFS:
        return ctx.client


def _access_point_make(ctx: StepContext, *, look_first: bool) -> dict:
    if ctx.person.uid_number is None:
        raise PermanentError("efs", f"{ctx.username} has no FreeIPA uid/gid yet")
    access_point = ctx.client.access_point_create(
        username=ctx.username,
        team=ctx.team.name,
        uid=ctx.person.uid_number,
        gid=ctx.person.gid_number,
        look_first=look_first,
        request_token=f"accessadmin-{ctx.run.pk}-{ctx.record.attempts}" if ctx.record else None,
    )
    return {"access_point_id": access_point.id, "access_point_arn": access_point.arn}


class AccessPointCreate(EFSStep):
    name = "efs_access_point"
    description = "Create the EFS access point /data/<username> with their uid/gid"

    def do(self, ctx: StepContext) -> dict:
        # A first attempt follows a plan that never made one or removed it; a retry was checked.
        return _access_point_make(ctx, look_first=ctx.run is None or ctx.retrying)

    def check(self, ctx: StepContext) -> dict | None:
        # This step's own attempt may have made one without recording it: look by tags.
        access_point = self.efs(ctx).access_point_find(username=ctx.username)
        if access_point is None:
            return None
        return {"access_point_id": access_point.id, "access_point_arn": access_point.arn}

    def undo(self, ctx: StepContext) -> None:
        recorded = (ctx.outputs.get(self.name) or {}).get("access_point_id")
        self.efs(ctx).access_point_delete(username=ctx.username, access_point_id=recorded)


class AccessPointDelete(EFSStep):
    name = "efs_access_point_removal"
    description = "Delete their EFS access point (the data stays)"

    def do(self, ctx: StepContext) -> dict:
        recorded = ctx.person.recorded("access_point_id")
        self.efs(ctx).access_point_delete(username=ctx.username, access_point_id=recorded)
        return {}

    def check(self, ctx: StepContext) -> dict | None:
        found = self.efs(ctx).access_point_find(
            username=ctx.username, access_point_id=ctx.person.recorded("access_point_id")
        )
        return {} if found is None else None

    def undo(self, ctx: StepContext) -> dict:
        return _access_point_make(ctx, look_first=True)


class AccessPointRepair(EFSStep):
    name = "efs_access_point_repair"
    description = (
        "Make their EFS access point /data/<username> as their uid/gid, replacing a wrong one"
    )

    def do(self, ctx: StepContext) -> dict:
        found = self._found(ctx)
        if found is not None and _right(ctx, found):
            return _ids(found)
        if found is not None:
            # An access point's root and POSIX user cannot be changed; the files stay.
            self.efs(ctx).access_point_delete(username=ctx.username, access_point_id=found.id)
        return _access_point_make(ctx, look_first=False)

    def check(self, ctx: StepContext) -> dict | None:
        found = self._found(ctx)
        return _ids(found) if found is not None and _right(ctx, found) else None

    def undo(self, ctx: StepContext) -> None:
        """Undoing a repair would bring back what was wrong: the access point stays."""

    def _found(self, ctx: StepContext) -> AccessPoint | None:
        return self.efs(ctx).access_point_find(
            username=ctx.username, access_point_id=ctx.person.recorded("access_point_id")
        )


def _right(ctx: StepContext, access_point: AccessPoint) -> bool:
    person = ctx.person
    return access_point.path == f"{ROOT}/{ctx.username}" and (
        access_point.uid,
        access_point.gid,
    ) == (person.uid_number, person.gid_number)


def _ids(access_point: AccessPoint) -> dict:
    return {"access_point_id": access_point.id, "access_point_arn": access_point.arn}


ACCESS_POINT_CREATE = AccessPointCreate()
ACCESS_POINT_REPAIR = AccessPointRepair()
ACCESS_POINT_DELETE = AccessPointDelete()
