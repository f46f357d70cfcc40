"""The SCIM documents AccessAdmin serves, built with scim2-models: the discovery documents, and a
User or a Group as the identity provider sees one of its users or a team."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from django.conf import settings
from django.db.models import BooleanField, Case, F, QuerySet, Value, When
from django.db.models.functions import Coalesce, Concat, NullIf
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    Email,
    EnterpriseUser,
    ETag,
    Filter,
    GroupMember,
    GroupMembership,
    Meta,
    Mutability,
    Name,
    Patch,
    Reference,
    Required,
    ResourceType,
    Returned,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
)
from scim2_models import Group as CoreGroup
from scim2_models import User as CoreUser

from onboarding.models import Person, Team
from scim.models import ScimGroup, ScimUser

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"


class PersonName(Name):
    """FreeIPA needs both names to make an account."""

    given_name: Annotated[str | None, Required.true] = None
    family_name: Annotated[str | None, Required.true] = None


class PersonEmail(Email):
    value: Annotated[str | None, Required.true] = None


class User(CoreUser):
    """A person: the core User, with what AccessAdmin needs to onboard someone required."""

    name: Annotated[PersonName | None, Required.true] = None
    emails: Annotated[list[PersonEmail] | None, Required.true] = None


class TeamMember(GroupMember):
    """A member is named by their id; AccessAdmin names them by their userName itself, and only
    when asked (`attributes=members.display`): a display sent is ignored (RFC 7643 §2.2)."""

    display: Annotated[str | None, Mutability.read_only, Returned.request] = None


class Group(CoreGroup):
    """A team: its name is given when it is created and never changes (its FreeIPA, IAM and
    hub groups are named after it), so displayName is immutable (RFC 7643 §2.2)."""

    display_name: Annotated[str | None, Required.true, Mutability.immutable] = None
    """The team's name."""

    members: list[TeamMember] | None = None
    """The team's people, each by the id of their User."""


ScimUserResource = User[EnterpriseUser]
PAGE_SIZE_MAX = 200
# The identity providers' habits RFC 7644 does not describe but does not forbid either: Entra ID
# replaces `emails[type eq "work"].value` on a user that has no work e-mail yet, and removes a
# group member by naming it in the value rather than in the path.
POLICY = ScimPolicy(
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
)
CONFIG = ServiceProviderConfig(
    documentation_uri=None,
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=PAGE_SIZE_MAX),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=True),
    authentication_schemes=[
        AuthenticationScheme(
            type="oauthbearertoken",
            name="Bearer token",
            description="An AccessAdmin SCIM token: manage.py api_token create NAME --role admin "
            "--scim",
            primary=True,
        )
    ],
)
PROVIDER = ScimProvider(
    models=[User, EnterpriseUser, Group],
    resource_types=[
        ResourceType.from_resource(ScimUserResource),
        ResourceType.from_resource(Group),
    ],
    config=CONFIG,
    policy=POLICY,
)
# Where a person's run takes their access away: SCIM shows them inactive from the request on.
LEAVING = (Person.Status.OFFBOARDING, Person.Status.OFFBOARDED)


def location(base: str, *parts: str) -> str:
    return base.rstrip("/") + "/" + "/".join(parts)


def config_document(base: str) -> dict:
    config = CONFIG.model_copy(deep=True)
    config.meta = Meta(
        resource_type="ServiceProviderConfig", location=location(base, "ServiceProviderConfig")
    )
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_type_documents(base: str) -> list[dict]:
    documents = []
    for resource_type in PROVIDER.resource_types:
        described = resource_type.model_copy(deep=True)
        described.meta = Meta(
            resource_type="ResourceType", location=location(base, "ResourceTypes", described.id)
        )
        documents.append(described.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return documents


def schema_documents(base: str) -> list[dict]:
    documents = []
    for schema in PROVIDER.schemas:
        described = schema.model_copy(deep=True)
        described.meta = Meta(resource_type="Schema", location=location(base, "Schemas", schema.id))
        documents.append(described.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return documents


# Users ----------------------------------------------------------------------------------------


def scim_users() -> QuerySet[ScimUser]:
    """The SCIM users not deleted, each with the values a filter compares: the person's own
    (an admin may have changed them in AccessAdmin) once there is a person."""
    given = Coalesce(F("person__first_name"), F("given_name"))
    family = Coalesce(F("person__last_name"), F("family_name"))
    return (
        ScimUser.objects.filter(deleted_at__isnull=True)
        .select_related("person__team", "team")
        .annotate(
            scim_given_name=given,
            scim_family_name=family,
            scim_email=Coalesce(F("person__email"), F("email")),
            # Absent, not empty, for `externalId pr`.
            scim_external_id=NullIf(F("external_id"), Value("")),
            scim_display_name=Concat(given, Value(" "), family),
            scim_active=Case(
                When(person__isnull=True, then=Coalesce(F("active"), Value(True))),
                When(person__status__in=LEAVING, then=Value(False)),
                default=Value(True),
                output_field=BooleanField(),
            ),
        )
    )


# Filterable attributes, as (attribute, sub-attribute, schema URI) in lower case.
USER_FILTER_FIELDS = {
    ("username", None, None): "user_name",
    ("externalid", None, None): "scim_external_id",
    ("emails", "value", None): "scim_email",
    ("emails", None, None): "scim_email",
    ("displayname", None, None): "scim_display_name",
    ("name", "givenname", None): "scim_given_name",
    ("name", "familyname", None): "scim_family_name",
    ("active", None, None): "scim_active",
}
USER_FILTER_NAMES = [
    "userName", "externalId", "emails.value", "displayName", "name.givenName",
    "name.familyName", "active",
]  # fmt: skip
GROUP_FILTER_FIELDS = {
    ("displayname", None, None): "name",
}
GROUP_FILTER_NAMES = ["displayName"]


def user_team(scim_user: ScimUser) -> Team | None:
    """The team they are in, while they are in one; none while they wait or are offboarded."""
    person = scim_user.person
    if person is None or person.status in LEAVING:
        return None
    return person.team


def user_resource(scim_user: ScimUser, base: str) -> ScimUserResource:
    """What the identity provider sent, with what AccessAdmin holds in its place: the
    person's name, e-mail address, status and team, which may have changed here since."""
    person = scim_user.person
    resource = ScimUserResource.model_validate(scim_user.attributes or {"schemas": [USER_URN]})
    resource.id = str(scim_user.id)
    resource.user_name = scim_user.user_name
    resource.external_id = scim_user.external_id or None
    given = person.first_name if person else scim_user.given_name
    family = person.last_name if person else scim_user.family_name
    if given or family:
        resource.name = resource.name or PersonName()
        resource.name.given_name, resource.name.family_name = given or None, family or None
    email = person.email if person else scim_user.email
    if email:
        emails = resource.emails or [PersonEmail(type=Email.Type.work, primary=True)]
        next((e for e in emails if e.primary), emails[0]).value = email
        resource.emails = emails
    resource.active = scim_user.active if person is None else person.status not in LEAVING
    team = user_team(scim_user)
    if team:
        resource.groups = [
            GroupMembership(
                value=str(team.pk), display=team.name, type="direct",
                ref=Reference(location(base, "Groups", str(team.pk))),
            )
        ]  # fmt: skip
    attribute = settings.SCIM_TEAM_ATTRIBUTE
    placed = team or scim_user.team
    if attribute and placed:
        resource[EnterpriseUser] = resource[EnterpriseUser] or EnterpriseUser()
        setattr(resource[EnterpriseUser], snake_case(attribute), placed.name)
    modified = max(scim_user.updated_at, person.updated_at) if person else scim_user.updated_at
    resource.meta = Meta(
        resource_type="User",
        created=scim_user.created_at,
        last_modified=modified,
        location=location(base, "Users", str(scim_user.id)),
    )
    resource.meta.version = version_of(resource)
    return resource


def snake_case(attribute: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in attribute)


def attributes_kept(resource: ScimUserResource) -> dict:
    """What AccessAdmin keeps of a user as it was sent, to answer with it: all but what it
    holds itself (the id, meta, group memberships) and what is never returned (a password)."""
    document = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    for held in ("id", "meta", "groups"):
        document.pop(held, None)
    return document


def version_of(resource: Any) -> str:
    """A weak ETag of what the resource says (RFC 7644 §3.14): it changes when anything a
    client sees of it changes, by SCIM or in AccessAdmin."""
    document = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    document.get("meta", {}).pop("version", None)
    digest = hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode())
    return f'W/"{digest.hexdigest()[:20]}"'


# Groups ---------------------------------------------------------------------------------------


def team_members(team: Team) -> QuerySet[ScimUser]:
    return scim_users().filter(person__team=team).exclude(person__status__in=LEAVING)


def group_resource(team: Team, base: str) -> Group:
    members = [
        TeamMember(
            value=str(member.id),
            display=member.user_name,
            type="User",
            ref=Reference(location(base, "Users", str(member.id))),
        )
        for member in team_members(team)
    ]
    kept = ScimGroup.objects.filter(team=team).first()
    resource = Group(
        id=str(team.pk), display_name=team.name, members=members or None,
        external_id=kept.external_id if kept and kept.external_id else None,
    )  # fmt: skip
    resource.meta = Meta(
        resource_type="Group",
        created=team.created_at,
        last_modified=team.updated_at,
        location=location(base, "Groups", str(team.pk)),
    )
    resource.meta.version = version_of(resource)
    return resource


def teams() -> QuerySet[Team]:
    return Team.objects.order_by("name")
