"""IAM role mappings against the moto server: one role per person, entered only by them through
the SAML provider, with their team's policies and their own data prefix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from onboarding.errors import NotFound, PermanentError, TransientError
from onboarding.systems.efs.client import EFS
from onboarding.systems.iam.client import IAM
from sandbox import aws

pytestmark = pytest.mark.stack

S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
EC2_READ = "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"
CLOUDWATCH_READ = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
BUCKET = "ml-platform-data"
ACCESS_POINT_ARN = "arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123abcd"


@pytest.fixture
def iam(aws_endpoints: dict[str, str]) -> IAM:
    return IAM(
        saml_provider_arn=aws_endpoints["IAM_SAML_PROVIDER_ARN"],
        role_prefix="accessadmin-",
        role_path="/accessadmin/",
        data_bucket=BUCKET,
        region=aws_endpoints["AWS_REGION"],
        endpoint_url=aws_endpoints["AWS_ENDPOINT_URL"],
    )


@pytest.fixture
def iam_client(aws_endpoints: dict[str, str]) -> Any:
    """Looks at moto directly, to check what the connector did."""
    return aws.client(aws_endpoints, "iam")


def _document(value: str | dict) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def _attached(iam_client: Any, role_name: str) -> set[str]:
    policies = iam_client.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    return {policy["PolicyArn"] for policy in policies}


def _tags(iam_client: Any, role_name: str) -> dict[str, str]:
    tags = iam_client.list_role_tags(RoleName=role_name)["Tags"]
    return {tag["Key"]: tag["Value"] for tag in tags}


def _roles_named(iam_client: Any, role_name: str) -> list[str]:
    roles = iam_client.list_roles(PathPrefix="/accessadmin/")["Roles"]
    return [role["RoleName"] for role in roles if role["RoleName"] == role_name]


def test_role_is_created_found_and_not_duplicated(iam: IAM, iam_client: Any) -> None:
    assert iam.role_find(username="role-repeat") is None

    created = iam.role_create(
        username="role-repeat", team="vision", policy_arns=[S3_READ], access_point_arn=None
    )
    found = iam.role_find(username="role-repeat")
    again = iam.role_create(
        username="role-repeat", team="vision", policy_arns=[S3_READ], access_point_arn=None
    )

    assert created.name == "accessadmin-role-repeat"
    assert created.arn == "arn:aws:iam::123456789012:role/accessadmin/accessadmin-role-repeat"
    assert found == created
    assert again == created
    assert _roles_named(iam_client, "accessadmin-role-repeat") == ["accessadmin-role-repeat"]
    assert _tags(iam_client, created.name) == {
        "username": "role-repeat",
        "team": "vision",
        "managed-by": "accessadmin",
    }


def test_only_the_person_may_enter_the_role_through_the_saml_provider(
    iam: IAM, iam_client: Any, aws_endpoints: dict[str, str]
) -> None:
    created = iam.role_create(
        username="role-trust", team="vision", policy_arns=[], access_point_arn=None
    )

    trust = _document(
        iam_client.get_role(RoleName=created.name)["Role"]["AssumeRolePolicyDocument"]
    )
    [statement] = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": aws_endpoints["IAM_SAML_PROVIDER_ARN"]}
    assert statement["Action"] == "sts:AssumeRoleWithSAML"
    assert statement["Condition"] == {
        "StringEquals": {
            "SAML:aud": "https://signin.aws.amazon.com/saml",
            "SAML:sub": "role-trust",
        }
    }


def test_person_policy_limits_s3_to_their_prefix_and_efs_to_their_access_point(
    iam: IAM, iam_client: Any
) -> None:
    created = iam.role_create(
        username="role-data", team="vision", policy_arns=[], access_point_arn=ACCESS_POINT_ARN
    )

    assert iam_client.list_role_policies(RoleName=created.name)["PolicyNames"] == [
        "accessadmin-person"
    ]
    policy = _document(
        iam_client.get_role_policy(RoleName=created.name, PolicyName="accessadmin-person")[
            "PolicyDocument"
        ]
    )
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert statements["OwnPrefixObjects"]["Resource"] == f"arn:aws:s3:::{BUCKET}/role-data/*"
    assert statements["ListOwnPrefix"]["Action"] == "s3:ListBucket"
    assert statements["ListOwnPrefix"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert statements["ListOwnPrefix"]["Condition"] == {
        "StringLike": {"s3:prefix": ["role-data/", "role-data/*"]}
    }
    mount = statements["MountOwnAccessPoint"]
    assert set(mount["Action"]) == {
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientWrite",
    }
    assert mount["Condition"] == {
        "StringEquals": {"elasticfilesystem:AccessPointArn": ACCESS_POINT_ARN}
    }
    assert all(statement["Effect"] == "Allow" for statement in policy["Statement"])
    assert all(statement["Resource"] != "*" for statement in policy["Statement"])


def test_person_without_access_point_gets_no_efs_statement(iam: IAM, iam_client: Any) -> None:
    created = iam.role_create(
        username="role-no-efs", team="vision", policy_arns=[], access_point_arn=None
    )

    policy = _document(
        iam_client.get_role_policy(RoleName=created.name, PolicyName="accessadmin-person")[
            "PolicyDocument"
        ]
    )
    actions = json.dumps([statement["Action"] for statement in policy["Statement"]])
    assert "elasticfilesystem" not in actions


def test_team_policies_are_attached(iam: IAM, iam_client: Any) -> None:
    created = iam.role_create(
        username="role-team",
        team="vision",
        policy_arns=[S3_READ, EC2_READ],
        access_point_arn=None,
    )

    assert _attached(iam_client, created.name) == {S3_READ, EC2_READ}
    assert created.policy_arns == (S3_READ, EC2_READ)


def test_team_move_swaps_the_managed_policies_and_the_team_tag(iam: IAM, iam_client: Any) -> None:
    created = iam.role_create(
        username="role-move",
        team="vision",
        policy_arns=[S3_READ, EC2_READ],
        access_point_arn=ACCESS_POINT_ARN,
    )

    moved = iam.role_set_team(
        username="role-move", team="speech", policy_arns=[EC2_READ, CLOUDWATCH_READ]
    )

    assert _attached(iam_client, created.name) == {EC2_READ, CLOUDWATCH_READ}
    assert _tags(iam_client, created.name)["team"] == "speech"
    assert moved.team == "speech"
    assert iam.role_find(username="role-move") == moved
    # Their own data and access point go with them.
    assert iam_client.list_role_policies(RoleName=created.name)["PolicyNames"] == [
        "accessadmin-person"
    ]


def test_team_move_of_a_person_without_a_role_is_not_found(iam: IAM) -> None:
    with pytest.raises(NotFound, match="role-nobody"):
        iam.role_set_team(username="role-nobody", team="speech", policy_arns=[])


def test_create_again_repairs_a_role_changed_by_hand(iam: IAM, iam_client: Any) -> None:
    created = iam.role_create(
        username="role-drift", team="vision", policy_arns=[S3_READ], access_point_arn=None
    )
    name = created.name
    iam_client.detach_role_policy(RoleName=name, PolicyArn=S3_READ)
    iam_client.attach_role_policy(RoleName=name, PolicyArn=CLOUDWATCH_READ)
    iam_client.delete_role_policy(RoleName=name, PolicyName="accessadmin-person")
    loosened = _document(iam_client.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])
    del loosened["Statement"][0]["Condition"]["StringEquals"]["SAML:sub"]
    iam_client.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(loosened))

    iam.role_create(
        username="role-drift", team="vision", policy_arns=[S3_READ], access_point_arn=None
    )

    assert _attached(iam_client, name) == {S3_READ}
    assert iam_client.list_role_policies(RoleName=name)["PolicyNames"] == ["accessadmin-person"]
    trust = _document(iam_client.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])
    assert trust["Statement"][0]["Condition"]["StringEquals"]["SAML:sub"] == "role-drift"


def test_delete_removes_the_role_with_its_policies_and_repeating_it_is_fine(
    iam: IAM, iam_client: Any
) -> None:
    created = iam.role_create(
        username="role-gone",
        team="vision",
        policy_arns=[S3_READ, EC2_READ],
        access_point_arn=ACCESS_POINT_ARN,
    )
    iam_client.put_role_policy(
        RoleName=created.name,
        PolicyName="added-by-hand",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}
                ],
            }
        ),
    )

    assert iam.role_delete(username="role-gone") is True

    assert iam.role_find(username="role-gone") is None
    assert _roles_named(iam_client, created.name) == []
    assert iam.role_delete(username="role-gone") is False


def test_role_not_managed_by_accessadmin_is_left_alone(iam: IAM, iam_client: Any) -> None:
    iam_client.create_role(
        RoleName="accessadmin-role-handmade",
        Path="/accessadmin/",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )

    assert iam.role_find(username="role-handmade") is None
    with pytest.raises(PermanentError, match="not tagged managed-by=accessadmin"):
        iam.role_create(
            username="role-handmade", team="vision", policy_arns=[S3_READ], access_point_arn=None
        )
    with pytest.raises(PermanentError, match="not tagged managed-by=accessadmin"):
        iam.role_delete(username="role-handmade")

    assert _roles_named(iam_client, "accessadmin-role-handmade") == ["accessadmin-role-handmade"]
    assert _attached(iam_client, "accessadmin-role-handmade") == set()


def test_unknown_team_policy_is_permanent(iam: IAM) -> None:
    with pytest.raises(PermanentError, match="NoSuchPolicyForTests"):
        iam.role_create(
            username="role-bad-policy",
            team="vision",
            policy_arns=["arn:aws:iam::aws:policy/NoSuchPolicyForTests"],
            access_point_arn=None,
        )


def test_too_long_a_role_name_is_refused_before_any_request(iam: IAM) -> None:
    with pytest.raises(PermanentError, match="longer than IAM's 64 characters"):
        iam.role_find(username="x" * 60)
    assert iam.round_trips == 0


def test_round_trips_per_verb(iam: IAM) -> None:
    counts = {}

    def measured(verb: str, call: Any) -> None:
        before = iam.round_trips
        call()
        counts[verb] = iam.round_trips - before

    measured("find missing", lambda: iam.role_find(username="role-trips"))
    measured(
        "create",
        lambda: iam.role_create(
            username="role-trips", team="vision", policy_arns=[S3_READ], access_point_arn=None
        ),
    )
    measured(
        "create existing",
        lambda: iam.role_create(
            username="role-trips", team="vision", policy_arns=[S3_READ], access_point_arn=None
        ),
    )
    measured("find", lambda: iam.role_find(username="role-trips"))
    measured(
        "set team",
        lambda: iam.role_set_team(username="role-trips", team="speech", policy_arns=[EC2_READ]),
    )
    measured("delete", lambda: iam.role_delete(username="role-trips"))
    measured("delete missing", lambda: iam.role_delete(username="role-trips"))

    assert counts == {
        "find missing": 1,
        # get, create, put the person policy, attach one
        "create": 4,
        # get, list attached, put the person policy
        "create existing": 3,
        "find": 2,
        # get, list attached, detach one, attach one, tag
        "set team": 5,
        # get, list attached, detach one, list inline, delete it, delete the role
        "delete": 6,
        "delete missing": 1,
    }


def test_unreachable_endpoint_is_transient(aws_endpoints: dict[str, str], closed_url: str) -> None:
    iam = IAM(
        saml_provider_arn=aws_endpoints["IAM_SAML_PROVIDER_ARN"],
        role_prefix="accessadmin-",
        role_path="/accessadmin/",
        data_bucket=BUCKET,
        region=aws_endpoints["AWS_REGION"],
        endpoint_url=closed_url,
    )

    with pytest.raises(TransientError, match="cannot reach"):
        iam.role_create(
            username="role-offline", team="vision", policy_arns=[], access_point_arn=None
        )
    assert iam.round_trips == 1


def test_from_settings_uses_the_configured_provider_prefix_path_and_bucket(
    settings: Any, aws_endpoints: dict[str, str], iam_client: Any
) -> None:
    settings.IAM_SAML_PROVIDER_ARN = aws_endpoints["IAM_SAML_PROVIDER_ARN"]
    settings.IAM_ROLE_PREFIX = "person-"
    settings.IAM_ROLE_PATH = "/people/"
    settings.S3_DATA_BUCKET = "other-bucket"
    settings.AWS_REGION = aws_endpoints["AWS_REGION"]
    settings.AWS_ENDPOINT_URL = aws_endpoints["AWS_ENDPOINT_URL"]

    created = IAM.from_settings().role_create(
        username="role-settings", team="vision", policy_arns=[], access_point_arn=None
    )

    assert created.arn.endswith(":role/people/person-role-settings")
    policy = _document(
        iam_client.get_role_policy(RoleName=created.name, PolicyName="accessadmin-person")[
            "PolicyDocument"
        ]
    )
    assert policy["Statement"][0]["Resource"] == "arn:aws:s3:::other-bucket/role-settings/*"


def test_from_settings_without_a_saml_provider_is_refused(settings: Any) -> None:
    settings.IAM_SAML_PROVIDER_ARN = ""

    with pytest.raises(PermanentError, match="IAM_SAML_PROVIDER_ARN"):
        IAM.from_settings()


def test_an_html_error_page_instead_of_an_aws_answer_is_transient(
    aws_endpoints: dict[str, str],
) -> None:
    """moto under load, or a proxy in front of AWS, may answer a 500 HTML page."""
    import http.server
    import threading

    class Overloaded(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b"<!doctype html><title>500 Internal Server Error</title>"
            self.send_response(500)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Overloaded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        efs = EFS(file_system_id="fs-12345678", region="eu-west-1", endpoint_url=endpoint)
        iam = IAM(
            saml_provider_arn="arn:aws:iam::123456789012:saml-provider/freeipa",
            role_prefix="accessadmin-", role_path="/accessadmin/", data_bucket="data",
            region="eu-west-1", endpoint_url=endpoint,
        )  # fmt: skip
        # EFS speaks JSON and sees a 500; IAM speaks XML and cannot even parse the page.
        with pytest.raises(TransientError):
            efs.access_point_find(username="someone")
        with pytest.raises(TransientError, match="unreadable answer"):
            iam.role_find(username="someone")
    finally:
        server.shutdown()


def test_regional_saml_audiences_are_all_accepted_by_the_trust(
    aws_endpoints: dict[str, str], iam_client: Any
) -> None:
    audiences = [
        "https://signin.aws.amazon.com/saml",
        "https://eu-west-1.signin.aws.amazon.com/saml",
    ]
    iam = IAM(
        saml_provider_arn=aws_endpoints["IAM_SAML_PROVIDER_ARN"], role_prefix="accessadmin-",
        role_path="/accessadmin/", data_bucket=BUCKET, region=aws_endpoints["AWS_REGION"],
        endpoint_url=aws_endpoints["AWS_ENDPOINT_URL"], saml_audiences=audiences,
    )  # fmt: skip
    created = iam.role_create(
        username="role-regional", team="vision", policy_arns=[], access_point_arn=None
    )
    trust = _document(
        iam_client.get_role(RoleName=created.name)["Role"]["AssumeRolePolicyDocument"]
    )
    assert trust["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"] == audiences
    # Nothing to repair on a second pass: the stored trust is what the connector would write.
    iam.role_create(username="role-regional", team="vision", policy_arns=[], access_point_arn=None)


def test_the_bucket_arn_is_in_the_accounts_partition(aws_endpoints: dict[str, str]) -> None:
    china = "arn:aws-cn:iam::123456789012:saml-provider/freeipa"
    iam = IAM(
        saml_provider_arn=china, role_prefix="accessadmin-", role_path="/accessadmin/",
        data_bucket=BUCKET, region="cn-north-1", endpoint_url=aws_endpoints["AWS_ENDPOINT_URL"],
    )  # fmt: skip
    statements = iam._person_policy("ada", None)["Statement"]
    assert statements[0]["Resource"] == f"arn:aws-cn:s3:::{BUCKET}/ada/*"
    assert statements[1]["Resource"] == f"arn:aws-cn:s3:::{BUCKET}"


class _Answer:
    """Enough of urllib3's response for botocore to read an answer injected before sending."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *args: Any, **kwargs: Any):
        yield self._body


def test_a_role_not_yet_visible_right_after_creating_it_is_retried_not_failed(
    iam: IAM, iam_client: Any
) -> None:
    """moto is strongly consistent, AWS is not: IAM may answer NoSuchEntity for a role created
    a moment ago. AWS's answer is injected for the first PutRolePolicy (and parsed by botocore
    as any answer is), because moto cannot be made to give it."""
    from botocore.awsrequest import AWSResponse

    body = (
        b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
        b"<Type>Sender</Type><Code>NoSuchEntity</Code><Message>The role with name "
        b"accessadmin-role-lag cannot be found.</Message></Error>"
        b"<RequestId>4e2b</RequestId></ErrorResponse>"
    )
    answered: list[str] = []

    def not_yet(request, **_: Any):
        if answered:
            return None
        answered.append(request.url)
        return AWSResponse(request.url, 404, {}, _Answer(body))

    events = iam._client.meta.events
    events.register_first("before-send.iam.PutRolePolicy", not_yet)
    try:
        with pytest.raises(TransientError, match="just created and is not visible yet"):
            iam.role_create(
                username="role-lag", team="vision", policy_arns=[S3_READ], access_point_arn=None
            )
        # The retry finds the role and finishes it.
        created = iam.role_create(
            username="role-lag", team="vision", policy_arns=[S3_READ], access_point_arn=None
        )
    finally:
        events.unregister("before-send.iam.PutRolePolicy", not_yet)
    assert answered
    assert _attached(iam_client, created.name) == {S3_READ}
    assert iam_client.get_role_policy(RoleName=created.name, PolicyName="accessadmin-person")


def test_no_such_entity_on_an_existing_role_stays_permanent(iam: IAM) -> None:
    iam.role_create(username="role-gone", team="vision", policy_arns=[], access_point_arn=None)
    with pytest.raises(PermanentError) as raised:
        iam.role_create(
            username="role-gone", team="vision",
            policy_arns=["arn:aws:iam::123456789012:policy/does-not-exist"], access_point_arn=None,
        )  # fmt: skip
    assert not isinstance(raised.value, TransientError)
