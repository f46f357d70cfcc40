"""IAM role mappings: one role per person, entered through FreeIPA's SAML identity provider.

Who may enter: the trust policy allows only `sts:AssumeRoleWithSAML` through the configured SAML
provider, and only for an assertion meant for the AWS sign-in (`SAML:aud`, one of
IAM_SAML_AUDIENCES: https://signin.aws.amazon.com/saml by default; regional sign-in endpoints
such as https://eu-west-1.signin.aws.amazon.com/saml are others) whose subject is the person
(`SAML:sub` = username). The
identity provider decides which roles it offers someone; the `SAML:sub` condition makes AWS check
too that the role is the signing-in person's own, so a wrong role mapping at the provider cannot
hand one person's role to another. It requires the provider to send the username as the NameID.

What they may do: the team's managed policies, attached, plus the inline policy
`accessadmin-person` for what is theirs alone: their prefix of the data bucket and their EFS access
point. A team move swaps the managed policies and leaves the inline policy as it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from onboarding.errors import DownstreamError, NotFound, PermanentError, TransientError
from onboarding.systems import _aws
from onboarding.systems._counting import RoundTrips, request_allowed

SYSTEM = "iam"
SAML_AUDIENCES = ("https://signin.aws.amazon.com/saml",)
PERSON_POLICY_NAME = "accessadmin-person"
ROLE_NAME_LIMIT = 64
QUOTAS_MAX_AGE_SECONDS = 3600
# What the connector calls, for the policy simulator (README: AWS permissions).
ACTIONS = (
    "iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:TagRole",
    "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
    "iam:ListRolePolicies", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
    "iam:ListAttachedRolePolicies", "iam:GetSAMLProvider", "iam:GetPolicy",
    "iam:GetAccountSummary", "iam:GetAccountAuthorizationDetails",
    "elasticfilesystem:CreateAccessPoint", "elasticfilesystem:DeleteAccessPoint",
    "elasticfilesystem:DescribeAccessPoints", "elasticfilesystem:DescribeFileSystems",
    "elasticfilesystem:TagResource",
)  # fmt: skip
OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
MOUNT_ACTIONS = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]


@dataclass(frozen=True)
class RoleMapping:
    name: str
    arn: str
    username: str
    team: str
    policy_arns: tuple[str, ...]
    # Tagged managed-by=accessadmin: one it made, not one made by hand under its path.
    managed: bool = True


class IAM:
    """The roles AccessAdmin keeps, one per person, under one path and name prefix."""

    def __init__(
        self,
        saml_provider_arn: str,
        role_prefix: str,
        role_path: str,
        data_bucket: str,
        region: str,
        endpoint_url: str | None = None,
        saml_audiences: Sequence[str] = SAML_AUDIENCES,
    ) -> None:
        self.saml_provider_arn = saml_provider_arn
        self.saml_audiences = tuple(saml_audiences)
        # aws, aws-cn or aws-us-gov: every ARN this account writes is in its partition.
        self.partition = saml_provider_arn.split(":")[1] if saml_provider_arn else "aws"
        self.role_prefix = role_prefix
        self.role_path = role_path
        self.data_bucket = data_bucket
        self._trips = RoundTrips()
        self._client = _aws.client(
            "iam", region=region, endpoint_url=endpoint_url, on_request=self._count
        )
        self._sts = _aws.client(
            "sts", region=region, endpoint_url=endpoint_url, on_request=self._count
        )
        self._quotas: tuple[float, dict[str, int]] | None = None

    @property
    def round_trips(self) -> int:
        """Requests this thread has sent through this connector."""
        return self._trips.count

    @classmethod
    def from_settings(cls) -> IAM:
        if not settings.IAM_SAML_PROVIDER_ARN:
            raise PermanentError(SYSTEM, "IAM_SAML_PROVIDER_ARN is not set")
        return cls(
            saml_provider_arn=settings.IAM_SAML_PROVIDER_ARN,
            role_prefix=settings.IAM_ROLE_PREFIX,
            role_path=settings.IAM_ROLE_PATH,
            data_bucket=settings.S3_DATA_BUCKET,
            region=settings.AWS_REGION,
            endpoint_url=settings.AWS_ENDPOINT_URL or None,
            saml_audiences=settings.IAM_SAML_AUDIENCES,
        )

    def role_name(self, *, username: str) -> str:
        name = f"{self.role_prefix}{username}"
        if len(name) > ROLE_NAME_LIMIT:
            raise PermanentError(
                SYSTEM, f"role name {name} is longer than IAM's {ROLE_NAME_LIMIT} characters"
            )
        return name

    def roles(self) -> list[RoleMapping]:
        """Every role under AccessAdmin's path and prefix, made by it or not, with its team tag
        and attached policies: one paginated listing of the account's roles
        (GetAccountAuthorizationDetails; ListRoles gives neither tags nor policies)."""
        found = []
        with _aws.translated_errors(SYSTEM):
            pages = self._client.get_paginator("get_account_authorization_details").paginate(
                Filter=["Role"]
            )
            for page in pages:
                for role in page["RoleDetailList"]:
                    name = role["RoleName"]
                    if role.get("Path") != self.role_path or not name.startswith(self.role_prefix):
                        continue
                    attached = [p["PolicyArn"] for p in role.get("AttachedManagedPolicies", [])]
                    found.append(_mapping(role, name.removeprefix(self.role_prefix), attached))
        return found

    def saml_provider_describe(self) -> str:
        """One harmless call: the SAML provider exists and these credentials may read it."""
        with _aws.translated_errors(SYSTEM):
            provider = self._client.get_saml_provider(SAMLProviderArn=self.saml_provider_arn)
        valid_until = provider.get("ValidUntil")
        return f"SAML provider {self.saml_provider_arn}" + (
            f", valid until {valid_until:%Y-%m-%d}" if valid_until else ""
        )

    def account_quotas(self) -> dict[str, int]:
        """IAM's summary of the account: roles in use and allowed, and how many managed
        policies a role may hold (10 unless raised). Asked once an hour at most."""
        now = time.monotonic()
        if self._quotas is None or now - self._quotas[0] > QUOTAS_MAX_AGE_SECONDS:
            with _aws.translated_errors(SYSTEM):
                summary = self._client.get_account_summary()["SummaryMap"]
            self._quotas = (now, summary)
        return dict(self._quotas[1])

    def permissions_missing(self, actions: Sequence[str]) -> list[str] | None:
        """The actions these credentials may not take, by IAM's policy simulator; None when
        the simulator cannot be asked (no iam:SimulatePrincipalPolicy, or an assumed role
        whose policies it cannot see)."""
        try:
            with _aws.translated_errors(SYSTEM):
                caller = self._sts.get_caller_identity()["Arn"]
                principal = _principal_of(caller)
                denied = []
                pages = self._client.get_paginator("simulate_principal_policy").paginate(
                    PolicySourceArn=principal, ActionNames=list(actions)
                )
                for page in pages:
                    denied += [
                        result["EvalActionName"]
                        for result in page["EvaluationResults"]
                        if result["EvalDecision"] != "allowed"
                    ]
        except DownstreamError:
            # Not allowed to ask, or an IAM (or a stand-in) without the simulator.
            return None
        return denied

    def role_find(self, *, username: str) -> RoleMapping | None:
        """The person's role, if AccessAdmin made it; a hand-made one of that name is not theirs."""
        role = self._role(self.role_name(username=username))
        if role is None or not _is_managed(role):
            return None
        return _mapping(role, username, self._attached(role["RoleName"]))

    def role_create(
        self,
        *,
        username: str,
        team: str,
        policy_arns: Sequence[str],
        access_point_arn: str | None,
    ) -> RoleMapping:
        """Create the person's role, or bring an existing one back to what it should be."""
        name = self.role_name(username=username)
        trust = self._trust_policy(username)
        tags = _tags(username, team)
        role = self._role(name)
        with _aws.translated_errors(SYSTEM):
            if role is None:
                role = self._client.create_role(
                    RoleName=name,
                    Path=self.role_path,
                    AssumeRolePolicyDocument=json.dumps(trust),
                    Description=f"Access of {username}, kept by AccessAdmin",
                    Tags=_aws.tag_list(tags),
                )["Role"]
                attached: list[str] = []
                created = True
            else:
                created = False
                _require_managed(role)
                if role.get("AssumeRolePolicyDocument") != trust:
                    self._client.update_assume_role_policy(
                        RoleName=name, PolicyDocument=json.dumps(trust)
                    )
                if not tags.items() <= _aws.tags_of(role.get("Tags")).items():
                    self._client.tag_role(RoleName=name, Tags=_aws.tag_list(tags))
                attached = self._attached(name)
        with _just_created(name, created):
            with _aws.translated_errors(SYSTEM):
                self._client.put_role_policy(
                    RoleName=name,
                    PolicyName=PERSON_POLICY_NAME,
                    PolicyDocument=json.dumps(self._person_policy(username, access_point_arn)),
                )
            policies = self._converge_policies(name, attached, policy_arns)
        return RoleMapping(
            name=name, arn=role["Arn"], username=username, team=team, policy_arns=policies
        )

    def role_set_team(self, *, username: str, team: str, policy_arns: Sequence[str]) -> RoleMapping:
        """Move the person to another team: swap the managed policies and the team tag."""
        name = self.role_name(username=username)
        role = self._role(name)
        if role is None:
            raise NotFound(SYSTEM, f"{username} has no role {name}")
        _require_managed(role)
        policies = self._converge_policies(name, self._attached(name), policy_arns)
        if _aws.tags_of(role.get("Tags")).get("team") != team:
            with _aws.translated_errors(SYSTEM):
                self._client.tag_role(RoleName=name, Tags=_aws.tag_list({"team": team}))
        return RoleMapping(
            name=name, arn=role["Arn"], username=username, team=team, policy_arns=policies
        )

    def role_delete(self, *, username: str) -> bool:
        """Detach and delete the role's policies, then the role; a missing role is done."""
        name = self.role_name(username=username)
        role = self._role(name)
        if role is None:
            return False
        _require_managed(role)
        for arn in self._attached(name):
            with _aws.translated_errors(SYSTEM, missing_ok=True):
                self._client.detach_role_policy(RoleName=name, PolicyArn=arn)
        for policy_name in self._inline(name):
            with _aws.translated_errors(SYSTEM, missing_ok=True):
                self._client.delete_role_policy(RoleName=name, PolicyName=policy_name)
        with _aws.translated_errors(SYSTEM, missing_ok=True):
            self._client.delete_role(RoleName=name)
        return True

    def policy_exists(self, *, arn: str) -> bool:
        """Whether the managed policy exists (one GetPolicy call)."""
        try:
            with _aws.translated_errors(SYSTEM):
                self._client.get_policy(PolicyArn=arn)
        except NotFound:
            return False
        return True

    def _role(self, name: str) -> dict[str, Any] | None:
        try:
            with _aws.translated_errors(SYSTEM):
                return self._client.get_role(RoleName=name)["Role"]
        except NotFound:
            return None

    def _attached(self, name: str) -> list[str]:
        with _aws.translated_errors(SYSTEM):
            pages = self._client.get_paginator("list_attached_role_policies").paginate(
                RoleName=name
            )
            return [policy["PolicyArn"] for page in pages for policy in page["AttachedPolicies"]]

    def _inline(self, name: str) -> list[str]:
        with _aws.translated_errors(SYSTEM):
            pages = self._client.get_paginator("list_role_policies").paginate(RoleName=name)
            return [policy_name for page in pages for policy_name in page["PolicyNames"]]

    def _converge_policies(
        self, name: str, attached: Sequence[str], wanted: Sequence[str]
    ) -> tuple[str, ...]:
        wanted = tuple(dict.fromkeys(wanted))
        for arn in attached:
            if arn not in wanted:
                with _aws.translated_errors(SYSTEM, missing_ok=True):
                    self._client.detach_role_policy(RoleName=name, PolicyArn=arn)
        with _aws.translated_errors(SYSTEM):
            for arn in wanted:
                if arn not in attached:
                    self._client.attach_role_policy(RoleName=name, PolicyArn=arn)
        return wanted

    def _trust_policy(self, username: str) -> dict[str, Any]:
        # One audience as a string, as IAM gives it back; several as a list (any of them).
        audiences = self.saml_audiences[0] if len(self.saml_audiences) == 1 else self.saml_audiences
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": self.saml_provider_arn},
                    "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {"StringEquals": {"SAML:aud": audiences, "SAML:sub": username}},
                }
            ],
        }

    def _person_policy(self, username: str, access_point_arn: str | None) -> dict[str, Any]:
        bucket = f"arn:{self.partition}:s3:::{self.data_bucket}"
        statements: list[dict[str, Any]] = [
            {
                "Sid": "OwnPrefixObjects",
                "Effect": "Allow",
                "Action": OBJECT_ACTIONS,
                "Resource": f"{bucket}/{username}/*",
            },
            {
                "Sid": "ListOwnPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket,
                "Condition": {"StringLike": {"s3:prefix": [f"{username}/", f"{username}/*"]}},
            },
        ]
        if access_point_arn:
            statements.append(
                {
                    "Sid": "MountOwnAccessPoint",
                    "Effect": "Allow",
                    "Action": MOUNT_ACTIONS,
                    "Resource": _file_systems_of(access_point_arn),
                    "Condition": {
                        "StringEquals": {"elasticfilesystem:AccessPointArn": access_point_arn}
                    },
                }
            )
        return {"Version": "2012-10-17", "Statement": statements}

    def _count(self, **_: Any) -> None:
        request_allowed()
        self._trips.add()


@contextmanager
def _just_created(name: str, created: bool) -> Iterator[None]:
    """IAM is eventually consistent: a role created a moment ago may not be found yet by the
    next call. That NoSuchEntity is worth a retry (which finds the role and goes on), not a
    failure."""
    try:
        yield
    except NotFound as error:
        # Only the role itself missing; a team policy that does not exist is NoSuchEntity too.
        if not created or f"role with name {name.lower()}" not in error.message.lower():
            raise
        raise TransientError(
            SYSTEM, f"role {name} was just created and is not visible yet: {error.message}"
        ) from error


def _tags(username: str, team: str) -> dict[str, str]:
    return {"username": username, "team": team, _aws.MANAGED_BY_KEY: _aws.MANAGED_BY_VALUE}


def _is_managed(role: dict[str, Any]) -> bool:
    return _aws.tags_of(role.get("Tags")).get(_aws.MANAGED_BY_KEY) == _aws.MANAGED_BY_VALUE


def _require_managed(role: dict[str, Any]) -> None:
    if not _is_managed(role):
        raise PermanentError(
            SYSTEM,
            f"role {role['RoleName']} exists but is not tagged "
            f"{_aws.MANAGED_BY_KEY}={_aws.MANAGED_BY_VALUE}; AccessAdmin leaves it alone",
        )


def _mapping(role: dict[str, Any], username: str, policy_arns: Sequence[str]) -> RoleMapping:
    return RoleMapping(
        name=role["RoleName"],
        arn=role["Arn"],
        username=username,
        team=_aws.tags_of(role.get("Tags")).get("team", ""),
        policy_arns=tuple(policy_arns),
        managed=_is_managed(role),
    )


def _principal_of(caller_arn: str) -> str:
    """The IAM principal behind a caller ARN: an assumed role's session is its role."""
    prefix, _, resource = caller_arn.partition(":assumed-role/")
    if not resource:
        return caller_arn
    role_name = resource.split("/")[0]
    return f"{prefix.replace(':sts:', ':iam:')}:role/{role_name}"


def _file_systems_of(access_point_arn: str) -> str:
    """arn:aws:elasticfilesystem:REGION:ACCOUNT:access-point/ID -> ...:file-system/*"""
    prefix, _, resource = access_point_arn.rpartition(":")
    if not prefix.startswith("arn:") or not resource.startswith("access-point/"):
        raise PermanentError(SYSTEM, f"{access_point_arn} is not an EFS access point ARN")
    # The mount is checked against the file system; the condition narrows it to one access point.
    return f"{prefix}:file-system/*"
