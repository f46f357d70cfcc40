"""What each SCIM request does to a person, through the engine's services and their rules
(checks first, rights, rate limits, audit with the SCIM token as the actor, notifications).

A SCIM user becomes a person once a team is named for them (a group membership, or the
attribute SCIM_TEAM_ATTRIBUTE); until then it waits. `active: false` and DELETE offboard,
`active: true` reinstates, a changed name or e-mail updates the person, a membership of
another team's group moves them. Nothing here deletes a person or their data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from scim2_models import (
    EnterpriseUser,
    ForbiddenException,
    MutabilityException,
    UniquenessException,
)

from onboarding import services
from onboarding.audit import audit_record
from onboarding.errors import InvalidInput, RunInProgress
from onboarding.models import Person, Team
from onboarding.validation import (
    NAME_MAX_LENGTH,
    group_name_check,
    text_check,
    username_normalise,
)
from scim.models import ScimGroup, ScimUser
from scim.resources import Group, ScimUserResource, attributes_kept, snake_case

Status = Person.Status
# A run holds the person: what SCIM asks now waits until it ends.
IN_A_RUN = (Status.ONBOARDING, Status.MOVING, Status.OFFBOARDING, Status.REINSTATING)
DEACTIVATED = "deactivated in the identity provider (SCIM)"
DELETED = "deleted in the identity provider (SCIM)"
REACTIVATED = "reactivated in the identity provider (SCIM)"


@dataclass(frozen=True)
class WantedUser:
    """What the identity provider says a user is, in AccessAdmin's terms."""

    user_name: str
    username: str
    first_name: str
    last_name: str
    email: str
    external_id: str
    active: bool
    team: Team | None
    active_sent: bool | None
    attributes: dict


def username_from(user_name: str) -> str:
    """The FreeIPA username a SCIM userName maps to under SCIM_USERNAME_FROM, or InvalidInput
    saying why it cannot be one."""
    raw = (user_name or "").strip()
    rule = settings.SCIM_USERNAME_FROM
    if rule == "email_local_part":
        if raw.count("@") != 1 or not raw.split("@")[0]:
            raise InvalidInput(
                f"userName {raw!r} is not an e-mail address, and SCIM_USERNAME_FROM="
                "email_local_part takes the username from the part before its '@'."
            )
        raw = raw.split("@")[0]
    try:
        return username_normalise(raw)
    except InvalidInput as error:
        raise InvalidInput(
            f"userName {user_name!r} gives no valid FreeIPA username under SCIM_USERNAME_FROM="
            f"{rule}: {error} Nothing was changed."
        ) from None


def wanted_user(resource: ScimUserResource) -> WantedUser:
    """The request's user, every problem of it said at once; it changes nothing."""
    username = username_from(resource.user_name or "")
    name = resource.name
    first = (name.given_name if name else None) or ""
    last = (name.family_name if name else None) or ""
    emails = resource.emails or []
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    email = (chosen.value if chosen else None) or ""
    problems = []
    # Names and an address are needed to onboard (_onboard_ready); whatever is sent is checked now.
    for label, value in (("name.givenName", first), ("name.familyName", last)):
        if value:
            try:
                text_check(value, label=label, max_length=NAME_MAX_LENGTH, one_line=True)
            except InvalidInput as error:
                problems.append(str(error))
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"emails: {email!r} is not a valid email address.")
    if problems:
        raise InvalidInput(" ".join(problems) + " Nothing was changed.")
    return WantedUser(
        user_name=resource.user_name.strip(), username=username, first_name=first.strip(),
        last_name=last.strip(), email=email.strip(), external_id=resource.external_id or "",
        active=resource.active is not False, team=_team_from_attribute(resource),
        active_sent=resource.active, attributes=attributes_kept(resource),
    )  # fmt: skip


def _team_from_attribute(resource: ScimUserResource) -> Team | None:
    attribute = settings.SCIM_TEAM_ATTRIBUTE
    enterprise = resource[EnterpriseUser] if attribute else None
    value = getattr(enterprise, snake_case(attribute), None) if enterprise else None
    if not value:
        return None
    # A value naming no team is no error: the user waits until an admin or a group places them.
    return Team.objects.filter(name=value.strip()).first()


# Users ----------------------------------------------------------------------------------------


def user_create(*, resource: ScimUserResource, actor: str) -> ScimUser:
    wanted = wanted_user(resource)
    _username_free_check(wanted)
    with transaction.atomic():
        try:
            with transaction.atomic():
                scim_user = ScimUser.objects.create(
                    user_name=wanted.user_name, username=wanted.username,
                    given_name=wanted.first_name, family_name=wanted.last_name,
                    email=wanted.email, external_id=wanted.external_id,
                    active=wanted.active_sent, team=wanted.team, attributes=wanted.attributes,
                    created_by=actor,
                )  # fmt: skip
        except IntegrityError:
            # The same user sent twice at once (a client's retry): the first one made it.
            raise UniquenessException(
                detail=f"userName {wanted.user_name!r} is provisioned already."
            ) from None
        if wanted.active and wanted.team is not None:
            _onboard(scim_user, actor=actor)
        else:
            _waiting_record(scim_user, actor=actor)
    return scim_user


def _username_free_check(wanted: WantedUser, scim_user: ScimUser | None = None) -> None:
    others = ScimUser.objects.exclude(pk=scim_user.pk) if scim_user else ScimUser.objects.all()
    taken = others.filter(user_name__iexact=wanted.user_name).first()
    taken = taken or others.filter(username=wanted.username).first()
    if taken is not None:
        gone = " It was deleted; an admin may reinstate the person in AccessAdmin." * bool(
            taken.deleted_at
        )
        raise UniquenessException(
            detail=f"userName {wanted.user_name!r} (FreeIPA username {wanted.username}) is "
            f"provisioned already.{gone}"
        )
    person = Person.objects.filter(username=wanted.username).first()
    if person is not None:
        raise UniquenessException(
            detail=f"{wanted.username!r} is already known to AccessAdmin "
            f"({person.get_status_display().lower()}), not through SCIM; nothing was changed."
        )


def user_replace(*, scim_user: ScimUser, resource: ScimUserResource, actor: str) -> ScimUser:
    """Bring the user to what the identity provider now says (a PUT, or a PATCH applied)."""
    wanted = wanted_user(resource)
    if wanted.username != scim_user.username and scim_user.person_id is None:
        # Nobody has the old username anywhere yet: a waiting user may still change it.
        _username_free_check(wanted, scim_user)
        scim_user.username = wanted.username
    elif wanted.username != scim_user.username:
        raise MutabilityException(
            detail=f"userName {wanted.user_name!r} maps to the FreeIPA username "
            f"{wanted.username}, but this user is {scim_user.username}: a username never "
            "changes. Nothing was changed."
        )
    other = ScimUser.objects.filter(user_name__iexact=wanted.user_name).exclude(pk=scim_user.pk)
    if other.exists():
        raise UniquenessException(detail=f"userName {wanted.user_name!r} is another user's.")
    identity = {
        field: {"before": before, "after": after}
        for field, before, after in (
            ("userName", scim_user.user_name, wanted.user_name),
            ("externalId", scim_user.external_id, wanted.external_id),
        )
        if before != after
    }
    person = scim_user.person
    if person is not None:
        person.refresh_from_db()
        _person_align(scim_user, person, wanted, actor=actor)
    scim_user.user_name = wanted.user_name
    scim_user.given_name, scim_user.family_name = wanted.first_name, wanted.last_name
    scim_user.email, scim_user.external_id = wanted.email, wanted.external_id
    scim_user.active, scim_user.attributes = wanted.active_sent, wanted.attributes
    if wanted.team is not None and person is None:
        scim_user.team = wanted.team
    with transaction.atomic():
        scim_user.save()
        if person is not None and person.external_id != wanted.external_id:
            Person.objects.filter(pk=person.pk).update(external_id=wanted.external_id)
        if identity:
            audit_record(
                actor=actor, action="scim.user_update", target=scim_user.username,
                outcome="succeeded", details={"scim_id": str(scim_user.id), **identity},
            )  # fmt: skip
        if person is None and wanted.active and scim_user.team is not None:
            _onboard(scim_user, actor=actor)
    return scim_user


def _person_align(scim_user: ScimUser, person: Person, wanted: WantedUser, *, actor: str) -> None:
    """Start what makes the person what the identity provider says: checked first, then done."""
    renamed = (person.first_name, person.last_name, person.email) != (
        wanted.first_name, wanted.last_name, wanted.email,
    )  # fmt: skip
    moving_to = wanted.team if wanted.team not in (None, person.team) else None
    status = person.status
    if status in IN_A_RUN:
        if not wanted.active and person.may_be_offboarded and not renamed:
            # A leaver is never kept waiting by a failed run; a run still going is a 409.
            services.person_offboard(person=person, reason=DEACTIVATED, actor=actor)
            return
        if renamed or moving_to or wanted.active == (status == Status.OFFBOARDING):
            raise RunInProgress(
                f"{person.username} has a run in progress ({person.get_status_display().lower()}); "
                "send this again once it has ended. Nothing was changed."
            )
        return
    if status == Status.ACTIVE and not wanted.active:
        services.person_offboard_check(person=person, reason=DEACTIVATED)
        if renamed:
            _rename(person, wanted, actor=actor)
        services.person_offboard(person=person, reason=DEACTIVATED, actor=actor)
    elif status == Status.ACTIVE:
        if moving_to:
            services.person_move_check(person=person, team=moving_to)
        if renamed:
            _rename(person, wanted, actor=actor)
        if moving_to:
            services.person_move(person=person, team=moving_to, actor=actor)
    elif status == Status.OFFBOARDED and wanted.active:
        # A name sent with the reactivation is taken at the next sync, once they are active.
        team = wanted.team or scim_user.team
        services.person_reinstate(
            person=person, reason=REACTIVATED, actor=actor,
            team=team if team not in (None, person.team) else None,
        )  # fmt: skip
        scim_user.team = None
    elif status == Status.NEW and wanted.active:
        # Their onboarding was rolled back: asking again onboards them again.
        scim_user.team = wanted.team or scim_user.team or person.team
        _onboard(scim_user, actor=actor)


def _rename(person: Person, wanted: WantedUser, *, actor: str) -> None:
    services.person_update(
        person=person, first_name=wanted.first_name, last_name=wanted.last_name,
        email=wanted.email, actor=actor,
    )  # fmt: skip


def _onboard_ready(scim_user: ScimUser, team: Team) -> None:
    if not (scim_user.given_name and scim_user.family_name and scim_user.email):
        raise InvalidInput(
            f"{scim_user.user_name} cannot be onboarded into team {team.name}: name.givenName, "
            "name.familyName and an e-mail address (emails) are required. Nothing was changed."
        )


def _onboard(scim_user: ScimUser, *, actor: str) -> None:
    _onboard_ready(scim_user, scim_user.team)
    services.person_onboard(
        username=scim_user.username, first_name=scim_user.given_name,
        last_name=scim_user.family_name, email=scim_user.email, team=scim_user.team, actor=actor,
    )  # fmt: skip
    person = Person.objects.get(username=scim_user.username)
    Person.objects.filter(pk=person.pk).update(external_id=scim_user.external_id)
    # Their team is the person's from now on; this one was where they were to start.
    scim_user.person, scim_user.team = person, None
    scim_user.save(update_fields=["person", "team", "updated_at"])


def _waiting_record(scim_user: ScimUser, *, actor: str) -> None:
    why = "inactive" if scim_user.active is False else "no team named (group or team attribute)"
    audit_record(
        actor=actor, action="scim.user_waiting", target=scim_user.username, outcome="succeeded",
        details={"scim_id": str(scim_user.id), "user_name": scim_user.user_name, "why": why},
    )  # fmt: skip


def user_delete(*, scim_user: ScimUser, actor: str) -> None:
    """Gone for SCIM; the person is offboarded, preserved and restorable in AccessAdmin."""
    person = scim_user.person
    if person is not None:
        person.refresh_from_db()
        if person.may_be_offboarded:
            services.person_offboard(person=person, reason=DELETED, actor=actor)
        elif person.status in IN_A_RUN:
            raise RunInProgress(
                f"{person.username} has a run in progress; send the DELETE again once it has "
                "ended. Nothing was changed."
            )
    with transaction.atomic():
        ScimUser.objects.filter(pk=scim_user.pk).update(deleted_at=timezone.now())
        audit_record(
            actor=actor, action="scim.user_delete", target=scim_user.username,
            outcome="succeeded",
            details={"scim_id": str(scim_user.id), "user_name": scim_user.user_name},
        )  # fmt: skip


# Groups: the teams ----------------------------------------------------------------------------


def group_create(*, resource: Group, actor: str) -> Team:
    name = (resource.display_name or "").strip()
    if not settings.SCIM_GROUPS_CREATE_TEAMS:
        raise ForbiddenException(
            detail="Groups are AccessAdmin's teams, and SCIM_GROUPS_CREATE_TEAMS does not let "
            f"SCIM create one: ask an admin to create team {name!r}. Nothing was changed."
        )
    if Team.objects.filter(name=name).exists():
        raise UniquenessException(detail=f"There is a team {name!r} already.")
    group_name_check(name, label="displayName")
    team, _ = services.team_set(name=name, group=name, actor=actor)
    group_external_id_set(team=team, external_id=resource.external_id)
    if resource.members:
        group_members_add(team=team, member_ids=[m.value for m in resource.members], actor=actor)
    return team


def group_members_add(*, team: Team, member_ids: list[str], actor: str) -> None:
    """Each member joins the team: a waiting user is onboarded into it, an active person in
    another team moves, an offboarded one comes back into it when reactivated. Every id is
    checked before anything changes."""
    members = []
    for member_id in dict.fromkeys(member_ids):
        member = scim_user_or_none(member_id)
        if member is None:
            raise InvalidInput(f"There is no user {member_id!r}; nothing was changed.")
        if member.person_id is None and member.active is not False:
            _onboard_ready(member, team)
        members.append(member)
    for member in members:
        _member_join(member, team, actor=actor)


def group_members_remove_refuse(*, team: Team, member_ids: list[str]) -> None:
    """A team's group lists exactly its people, and a person is in one team: they leave it by
    joining another team's group (a move) or by being deactivated, never by being left in none.
    Removing a member is refused (RFC 7644 §3.5.2: a SCIM error, not a removal that is not
    made); removing someone who is not a member removes nothing and is no error."""
    names = [
        member.user_name
        for member in ScimUser.objects.filter(pk__in=member_ids).order_by("user_name")
    ]
    if names:
        raise MutabilityException(
            detail=f"{', '.join(names)} cannot be removed from team {team.name!r}: a person's "
            "team is their only one, left by joining another team's group (which moves them) "
            "or by being deactivated (which offboards them). Nothing was changed."
        )


def scim_user_or_none(scim_id: str) -> ScimUser | None:
    """The SCIM user not deleted with this id; None for any other id, well-formed or not."""
    try:
        key = uuid.UUID(str(scim_id))
    except ValueError:
        return None
    return ScimUser.objects.filter(pk=key, deleted_at__isnull=True).first()


def _member_join(member: ScimUser, team: Team, *, actor: str) -> None:
    person = member.person
    if person is None:
        member.team = team
        member.save(update_fields=["team", "updated_at"])
        if member.active is not False:
            with transaction.atomic():
                _onboard(member, actor=actor)
        return
    person.refresh_from_db()
    if person.status == Status.OFFBOARDED:
        member.team = team
        member.save(update_fields=["team", "updated_at"])
    elif person.team != team:
        services.person_move(person=person, team=team, actor=actor)


def group_external_id_set(*, team: Team, external_id: str | None) -> None:
    ScimGroup.objects.update_or_create(team=team, defaults={"external_id": external_id or ""})


def group_rename_refuse(*, team: Team, display_name: str | None) -> None:
    if display_name is not None and display_name.strip() != team.name:
        raise MutabilityException(
            detail=f"A team's name does not change through SCIM ({team.name!r}); nothing was "
            "changed."
        )
