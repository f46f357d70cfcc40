"""The endpoints of /scim/v2/ (RFC 7644). Each authenticates the SCIM token, reads the request
with scim2-models, and acts through scim.services; every refusal is a SCIM error body with its
status, and a refused request changed nothing."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    NotImplementedException,
    PatchOp,
    PreconditionFailedException,
    ResponseParameters,
    SCIMException,
)

from api.models import ApiToken
from api.services import TokenRefused, api_token_use
from onboarding.errors import (
    AccessAdminError,
    DownstreamError,
    InvalidInput,
    PersonAlreadyKnown,
    RunInProgress,
    TooManyRequests,
)
from onboarding.models import Team
from scim import resources, services
from scim.filters import filter_query
from scim.models import ScimUser
from scim.resources import Group, ScimUserResource

CONTENT_TYPE = "application/scim+json"
PAGE_SIZE_DEFAULT = 100


# Answers --------------------------------------------------------------------------------------


def _json(document: dict, status: int = 200, *, etag: str = "", location: str = "") -> HttpResponse:
    response = HttpResponse(json.dumps(document), status=status, content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"  # people's details, for the caller only
    if etag:
        response["ETag"] = etag
    if location:
        response["Location"] = location
    return response


def _error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    error = Error(status=status, scim_type=scim_type or None, detail=detail)
    return _json(error.model_dump(), status)


def _validation_error(error: ValidationError) -> HttpResponse:
    """The first SCIM error pydantic carried (scim2-models raises them inside validation), or
    invalidValue naming each field that is wrong."""
    for problem in error.errors():
        context = problem.get("ctx") or {}
        if context.get("scim_type") or str(problem.get("type", "")).startswith("scim_"):
            return _error(
                int(context.get("status") or 400), problem["msg"], context.get("scim_type")
            )
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'the body'}: {e['msg']}" for e in error.errors()
    )
    return _error(
        400, f"The request is not valid: {problems}. Nothing was changed.", "invalidValue"
    )


def scim_endpoint(*methods: str) -> Callable:
    """Authenticate the SCIM token and turn every refusal into a SCIM error."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def endpoint(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = _error(405, f"{request.method} is not supported here.")
                response["Allow"] = ", ".join(methods)
                return response
            try:
                request.scim_token = _token(request)
                with resources.PROVIDER:
                    return view(request, *args, **kwargs)
            except TokenRefused as error:
                response = _error(401, str(error))
                response["WWW-Authenticate"] = 'Bearer realm="accessadmin-scim"'
                return response
            except SCIMException as error:
                return _error(error.status, error.detail, error.scim_type or None)
            except ValidationError as error:
                return _validation_error(error)
            except TooManyRequests as error:
                response = _error(429, str(error))
                response["Retry-After"] = str(error.retry_after)
                return response
            except PersonAlreadyKnown as error:
                return _error(409, str(error), "uniqueness")
            except RunInProgress as error:
                return _error(409, str(error))
            except InvalidInput as error:
                return _error(400, str(error), "invalidValue")
            except DownstreamError as error:
                return _error(502, str(error))
            except AccessAdminError as error:
                return _error(400, str(error))

        return endpoint

    return decorate


def _token(request: HttpRequest) -> ApiToken:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise TokenRefused("Send a SCIM token: Authorization: Bearer <token>.")
    return api_token_use(
        secret.strip(), path=request.path, method=request.method, scope=ApiToken.Scope.SCIM
    )


def _actor(request: HttpRequest) -> str:
    return request.scim_token.actor


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("scim:root"))


def _body(request: HttpRequest) -> dict:
    try:
        document = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidValueException(detail="The body is not JSON; nothing was changed.") from None
    if not isinstance(document, dict):
        raise InvalidValueException(detail="The body is not a JSON object; nothing was changed.")
    return document


def _page(request: HttpRequest) -> tuple[int, int]:
    """startIndex (1-based) and count; values out of range are taken as the nearest allowed
    (RFC 7644 §3.4.2.4), text that is not a number is refused."""

    def number(name: str, default: int) -> int:
        raw = request.GET.get(name, "").strip()
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise InvalidValueException(detail=f"{name} must be a whole number.") from None

    start = max(1, number("startIndex", 1))
    count = min(resources.PAGE_SIZE_MAX, max(0, number("count", PAGE_SIZE_DEFAULT)))
    return start, count


def _response_parameters(request: HttpRequest, model) -> ResponseParameters:
    return ResponseParameters[model].model_validate(
        {
            "attributes": request.GET.get("attributes") or None,
            "excludedAttributes": request.GET.get("excludedAttributes") or None,
        }
    )


def _listed(request: HttpRequest, model, found: QuerySet, represent) -> HttpResponse:
    start, count = _page(request)
    parameters = _response_parameters(request, model)
    total = found.count()
    page = [represent(item) for item in found[start - 1 : start - 1 + count]] if count else []
    listing = ListResponse[model](
        total_results=total, start_index=start, items_per_page=len(page), resources=page
    )
    return _json(
        listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=parameters)
    )


def _one(request: HttpRequest, resource, status: int = 200) -> HttpResponse:
    parameters = _response_parameters(request, type(resource))
    document = resource.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=parameters
    )
    location = resource.meta.location if status == 201 else ""
    return _json(document, status, etag=resource.meta.version, location=location)


def _version_check(request: HttpRequest, resource) -> None:
    wanted = request.headers.get("If-Match", "").strip()
    if wanted and wanted != "*" and resource.meta.version not in _tags(wanted):
        raise PreconditionFailedException(
            detail="The resource changed since it was read (If-Match); read it again. "
            "Nothing was changed."
        )


def _tags(header: str) -> set[str]:
    """The entity tags of an If-Match or If-None-Match header, weak or not, as we write them."""
    tags = set()
    for tag in (part.strip() for part in header.split(",")):
        tags.add(tag if tag.startswith("W/") else f"W/{tag}")
    return tags


# Discovery ------------------------------------------------------------------------------------


@scim_endpoint("GET")
def service_provider_config(request: HttpRequest) -> HttpResponse:
    return _json(resources.config_document(_base(request)))


def _discovery_list(documents: list[dict]) -> HttpResponse:
    return _json(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(documents),
            "itemsPerPage": len(documents),
            "startIndex": 1,
            "Resources": documents,
        }
    )


def _discovery_one(documents: list[dict], wanted: str, what: str) -> HttpResponse:
    for document in documents:
        if document["id"] == wanted:
            return _json(document)
    raise NotFoundException(detail=f"There is no {what} {wanted!r}.")


@scim_endpoint("GET")
def schemas(request: HttpRequest) -> HttpResponse:
    return _discovery_list(resources.schema_documents(_base(request)))


@scim_endpoint("GET")
def schema(request: HttpRequest, schema_id: str) -> HttpResponse:
    return _discovery_one(resources.schema_documents(_base(request)), schema_id, "schema")


@scim_endpoint("GET")
def resource_types(request: HttpRequest) -> HttpResponse:
    return _discovery_list(resources.resource_type_documents(_base(request)))


@scim_endpoint("GET")
def resource_type(request: HttpRequest, type_id: str) -> HttpResponse:
    documents = resources.resource_type_documents(_base(request))
    return _discovery_one(documents, type_id, "resource type")


@scim_endpoint("POST")
def search(request: HttpRequest, **kwargs) -> HttpResponse:
    raise NotImplementedException(
        detail="Searching with POST .search is not supported; use GET with a filter."
    )


@scim_endpoint("GET", "POST", "PUT", "PATCH", "DELETE")
def unknown(request: HttpRequest, rest: str) -> HttpResponse:
    raise NotFoundException(detail=f"There is no SCIM endpoint {rest!r} here.")


# Users ----------------------------------------------------------------------------------------


def _user(scim_id: str) -> ScimUser:
    found = services.scim_user_or_none(scim_id)
    if found is None:
        raise NotFoundException(detail=f"There is no user {scim_id!r}.")
    return resources.scim_users().get(pk=found.pk)


def _user_shown(request: HttpRequest, scim_user: ScimUser, status: int = 200) -> HttpResponse:
    scim_user = resources.scim_users().get(pk=scim_user.pk)
    return _one(request, resources.user_resource(scim_user, _base(request)), status)


@scim_endpoint("GET", "POST")
def users(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        resource = ScimUserResource.model_validate(
            _body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST
        )
        scim_user = services.user_create(resource=resource, actor=_actor(request))
        return _user_shown(request, scim_user, 201)
    found = resources.scim_users()
    text = request.GET.get("filter", "").strip()
    if text:
        found = found.filter(
            filter_query(text, resources.USER_FILTER_FIELDS, resources.USER_FILTER_NAMES)
        )
    base = _base(request)
    return _listed(
        request, ScimUserResource, found, lambda user: resources.user_resource(user, base)
    )


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def user(request: HttpRequest, scim_id: str) -> HttpResponse:
    scim_user = _user(scim_id)
    current = resources.user_resource(scim_user, _base(request))
    if request.method == "GET":
        if current.meta.version in _tags(request.headers.get("If-None-Match", "") or "-"):
            return HttpResponse(status=304)
        return _one(request, current)
    _version_check(request, current)
    actor = _actor(request)
    if request.method == "DELETE":
        services.user_delete(scim_user=scim_user, actor=actor)
        return HttpResponse(status=204)
    if request.method == "PUT":
        wanted = ScimUserResource.model_validate(
            _body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
        )
    else:
        patch = PatchOp[ScimUserResource].model_validate(
            _manager_as_complex(_body(request)), scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
        wanted = current.model_copy(deep=True)
        patch.patch(wanted)
    services.user_replace(scim_user=scim_user, resource=wanted, actor=actor)
    return _user_shown(request, scim_user)


MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager"


def _manager_as_complex(body: dict) -> dict:
    """Entra ID sets the enterprise `manager` to the manager's id itself, where RFC 7643 has a
    complex attribute: {"value": id}."""
    for operation in body.get("Operations") or []:
        if not isinstance(operation, dict):
            continue
        path = str(operation.get("path") or "").lower()
        if path == MANAGER and isinstance(operation.get("value"), str):
            operation["value"] = {"value": operation["value"]}
    return body


# Groups: the teams ----------------------------------------------------------------------------


def _team(group_id: str) -> Team:
    team = Team.objects.filter(pk=int(group_id)).first() if group_id.isdigit() else None
    if team is None:
        raise NotFoundException(detail=f"There is no group {group_id!r}.")
    return team


def _member_ids(group: Group) -> list[str]:
    return [member.value for member in group.members or [] if member.value]


def _member_display_ignored(body: dict) -> dict:
    """Okta names each member it adds (`display`); AccessAdmin names them itself, so a display
    sent is ignored, as RFC 7644 §3.5.1 has a read-only value sent with a PUT ignored."""
    for operation in body.get("Operations") or []:
        if not isinstance(operation, dict):
            continue
        value = operation.get("value")
        path = str(operation.get("path") or "").lower()
        if not path and isinstance(value, dict):
            value = value.get("members")
        elif not path.startswith("members"):
            continue
        for member in value if isinstance(value, list) else [value]:
            if isinstance(member, dict):
                member.pop("display", None)
    return body


@scim_endpoint("GET", "POST")
def groups(request: HttpRequest) -> HttpResponse:
    base = _base(request)
    if request.method == "POST":
        resource = Group.model_validate(_body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST)
        team = services.group_create(resource=resource, actor=_actor(request))
        return _one(request, resources.group_resource(team, base), 201)
    found = resources.teams()
    text = request.GET.get("filter", "").strip()
    if text:
        found = found.filter(
            filter_query(text, resources.GROUP_FILTER_FIELDS, resources.GROUP_FILTER_NAMES)
        )
    return _listed(request, Group, found, lambda team: resources.group_resource(team, base))


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def group(request: HttpRequest, group_id: str) -> HttpResponse:
    team = _team(group_id)
    base = _base(request)
    current = resources.group_resource(team, base)
    if request.method == "GET":
        if current.meta.version in _tags(request.headers.get("If-None-Match", "") or "-"):
            return HttpResponse(status=304)
        return _one(request, current)
    _version_check(request, current)
    if request.method == "DELETE":
        raise services.ForbiddenException(
            detail=f"Teams are removed in AccessAdmin, not through SCIM; team {team.name!r} "
            "stays. Nothing was changed."
        )
    if request.method == "PUT":
        wanted = Group.model_validate(_body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    else:
        patch = PatchOp[Group].model_validate(
            _member_display_ignored(_body(request)), scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
        wanted = current.model_copy(deep=True)
        patch.patch(wanted)
    services.group_rename_refuse(team=team, display_name=wanted.display_name)
    kept, sent = set(_member_ids(current)), set(_member_ids(wanted))
    services.group_members_remove_refuse(team=team, member_ids=sorted(kept - sent))
    added = [m for m in _member_ids(wanted) if m not in kept]
    services.group_members_add(team=team, member_ids=added, actor=_actor(request))
    if wanted.external_id != current.external_id:
        services.group_external_id_set(team=team, external_id=wanted.external_id)
    return _one(request, resources.group_resource(team, base))
