"""How a test sees each system from outside, as the person or an operator would."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import unquote

import boto3
import pyotp
import requests
from python_freeipa import ClientMeta
from python_freeipa import exceptions as ipa_errors


def totp_codes(otp_uri: str, count: int) -> list[str]:
    """Codes for this time step and the next ones: FreeIPA refuses a code used once already,
    and accepts codes a few steps ahead (its TOTP window)."""
    totp = pyotp.parse_uri(otp_uri)
    now = time.time()
    return [totp.at(now + step * totp.interval) for step in range(count)]


def freeipa_client(stack: dict[str, str]) -> ClientMeta:
    return ClientMeta(
        stack["FREEIPA_HOST"], verify_ssl=stack["FREEIPA_CA_FILE"], dns_discovery=False
    )


def freeipa_login_error(stack: dict[str, str], username: str, secret: str) -> str | None:
    """None when FreeIPA lets them in, else the name of its refusal."""
    try:
        freeipa_client(stack).login(username, secret)
    except ipa_errors.Unauthorized as error:
        return type(error).__name__
    return None


def freeipa_change_password(
    stack: dict[str, str], username: str, old: str, new: str, otp_code: str
) -> None:
    freeipa_client(stack).change_password(username, new, old, otp=otp_code)


def freeipa_password_change_by_form(
    stack: dict[str, str], username: str, old: str, new: str
) -> str:
    """The self-service change FreeIPA's login page offers for an expired password; its answer
    (X-IPA-Pwchange-Result: ok, invalid-password, policy-error)."""
    host = f"https://{stack['FREEIPA_HOST']}"
    response = requests.post(
        f"{host}/ipa/session/change_password",
        data={"user": username, "old_password": old, "new_password": new},
        headers={"Referer": f"{host}/ipa/session/change_password"},
        verify=stack["FREEIPA_CA_FILE"],
        timeout=10,
    )
    return response.headers.get("X-IPA-Pwchange-Result", "")


def otp_tokens_in_directory(stack: dict[str, str], username: str) -> list[str]:
    """The ids of the OTP tokens the directory holds for this user, active or preserved, read
    as the directory manager: what is really there, whatever FreeIPA lets anyone see."""
    import ldap

    connection = ldap.initialize(stack["LDAP_URI"])
    connection.simple_bind_s(stack["LDAP_BIND_DN"], stack["LDAP_BIND_PASSWORD"])
    try:
        found = connection.search_s(
            f"cn=otp,{stack['LDAP_BASE_DN']}", ldap.SCOPE_ONELEVEL,
            f"(ipatokenOwner=uid={username},*)", ["ipatokenUniqueID"],
        )  # fmt: skip
    finally:
        connection.unbind_s()
    return sorted(attrs["ipatokenUniqueID"][0].decode() for _, attrs in found)


def hub_login(stack: dict[str, str], username: str, password: str) -> bool:
    browser = requests.Session()
    url = stack["JUPYTERHUB_URL"]
    form = browser.get(f"{url}/hub/login", timeout=10)
    xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', form.text)
    assert xsrf, "the hub's login form has no _xsrf field"
    response = browser.post(
        f"{url}/hub/login",
        data={"username": username, "password": password, "_xsrf": xsrf.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    return response.status_code == 302 and "/hub/login" not in response.headers["Location"]


def hub_user(stack: dict[str, str], username: str) -> dict | None:
    response = requests.get(
        f"{stack['JUPYTERHUB_URL']}/hub/api/users/{username}",
        headers={"Authorization": f"token {stack['JUPYTERHUB_API_TOKEN']}"},
        timeout=10,
    )
    return response.json() if response.status_code == 200 else None


def aws(stack: dict[str, str], service: str):
    return boto3.client(
        service,
        endpoint_url=stack["AWS_ENDPOINT_URL"],
        region_name=stack["AWS_REGION"],
        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"],
    )


def access_points(stack: dict[str, str], username: str) -> list[dict]:
    efs = aws(stack, "efs")
    found = efs.describe_access_points(FileSystemId=stack["EFS_FILE_SYSTEM_ID"])["AccessPoints"]
    return [ap for ap in found if ap["RootDirectory"]["Path"] == f"/data/{username}"]


def roles(stack: dict[str, str], username: str) -> list[dict]:
    iam = aws(stack, "iam")
    found = []
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            tags = {
                t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]
            }
            if tags.get("username") == username:
                found.append(role)
    return found


def trust_policy(role: dict) -> dict:
    document = role["AssumeRolePolicyDocument"]
    return json.loads(unquote(document)) if isinstance(document, str) else document


def attached_policies(stack: dict[str, str], role_name: str) -> set[str]:
    iam = aws(stack, "iam")
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    return {policy["PolicyArn"] for policy in attached}
