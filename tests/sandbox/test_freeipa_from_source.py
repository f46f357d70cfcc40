"""FreeIPA behaviour recorded nowhere, checked against FreeIPA's source (shared FACTS.md).

Each test says "from source": the expected codes and texts come from FreeIPA's code, not
from recorded traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ldap
import pytest
import requests
from python_freeipa import ClientMeta
from python_freeipa import exceptions as ipa_errors

pytestmark = pytest.mark.stack
PASSWORD = "first-Password-1"
NEW_PASSWORD = "second-Password-2"


def _url(endpoints: dict[str, str], path: str) -> str:
    return f"https://{endpoints['FREEIPA_HOST']}{path}"


def change_password(endpoints: dict[str, str], uid: str, old: str, new: str) -> requests.Response:
    return requests.post(
        _url(endpoints, "/ipa/session/change_password"),
        data={"user": uid, "old_password": old, "new_password": new},
        headers={"Referer": _url(endpoints, "/ipa/session/change_password")},
        verify=endpoints["FREEIPA_CA_FILE"],
        timeout=10,
    )


@pytest.fixture
def person(admin: ClientMeta, endpoints: dict[str, str]) -> Callable[[str], ClientMeta]:
    """Adds a user with an admin-set password, lets them choose their own, logs them in."""

    def make(uid: str) -> ClientMeta:
        admin.user_add(
            uid, o_givenname="Test", o_sn="Person", o_cn="Test Person", o_userpassword=PASSWORD
        )
        response = change_password(endpoints, uid, PASSWORD, NEW_PASSWORD)
        assert response.headers["X-IPA-Pwchange-Result"] == "ok"
        client = ClientMeta(endpoints["FREEIPA_HOST"], verify_ssl=endpoints["FREEIPA_CA_FILE"])
        client.login(uid, NEW_PASSWORD)
        return client

    return make


def raw_call(
    endpoints: dict[str, str], client: ClientMeta, body: dict[str, Any], referer: str | None = "ipa"
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if referer is not None:
        headers["Referer"] = referer if "://" in referer else _url(endpoints, "/ipa")
    response = client._session.post(
        _url(endpoints, "/ipa/session/json"),
        json=body,
        headers=headers,
        verify=endpoints["FREEIPA_CA_FILE"],
    )
    assert response.status_code == 200
    return response.json()


def ldap_bind(endpoints: dict[str, str], dn: str, password: str) -> bool:
    connection = ldap.initialize(endpoints["LDAP_URI"])
    try:
        connection.simple_bind_s(dn, password)
    except (ldap.INVALID_CREDENTIALS, ldap.UNWILLING_TO_PERFORM):
        return False
    finally:
        connection.unbind_s()
    return True


def user_dn(endpoints: dict[str, str], uid: str, container: str = "cn=users,cn=accounts") -> str:
    return f"uid={uid},{container},{endpoints['LDAP_BASE_DN']}"


def test_disable_and_enable_refuse_repeats(admin: ClientMeta, person) -> None:
    """From source: user_disable/enable set nsAccountLock; repeating raises 4010/4009."""
    person("pat")
    result = admin.user_disable("pat")
    assert result == {"result": True, "value": "pat", "summary": 'Disabled user account "pat"'}
    with pytest.raises(ipa_errors.AlreadyInactive, match="This entry is already disabled"):
        admin.user_disable("pat")
    assert admin.user_show("pat")["result"]["nsaccountlock"] is True
    assert admin.user_enable("pat")["summary"] == 'Enabled user account "pat"'
    with pytest.raises(ipa_errors.AlreadyActive, match="This entry is already enabled"):
        admin.user_enable("pat")


def test_preserved_user_can_be_restored_but_not_preserved_twice(admin: ClientMeta, person) -> None:
    """From source: user_del preserve moves the user to deleted users; user_undel brings it back."""
    person("pat")
    result = admin.user_del("pat", o_preserve=True)
    assert result == {"result": {"failed": []}, "value": ["pat"], "summary": 'Preserved user "pat"'}
    shown = admin.user_show("pat")["result"]
    assert shown["preserved"] is True
    assert "memberof_group" not in shown
    with pytest.raises(ipa_errors.FreeIPAError, match="pat: user is already preserved"):
        admin.user_del("pat", o_preserve=True)
    assert admin.user_undel("pat") == {
        "result": True,
        "value": "pat",
        "summary": 'Undeleted user account "pat"',
    }
    restored = admin.user_show("pat")["result"]
    assert restored["preserved"] is False
    assert restored["memberof_group"] == ["ipausers"]
    assert restored["gidnumber"] == restored["uidnumber"]


def test_non_admin_gets_insufficient_access(endpoints, person) -> None:
    """From source: an ACI refusal is 2100 ACIError 'Insufficient access: ...'."""
    client = person("pat")
    answer = raw_call(
        endpoints,
        client,
        {
            "method": "user_add",
            "params": [["other"], {"givenname": "O", "sn": "Ther", "version": "2.253"}],
        },
    )
    assert answer["error"]["code"] == 2100
    assert answer["error"]["name"] == "ACIError"
    assert answer["error"]["message"].startswith("Insufficient access: ")
    assert client.user_show("pat")["result"]["uid"] == ["pat"]


def test_another_major_version_is_refused(endpoints, admin: ClientMeta) -> None:
    """From source: a client major version other than the server's is 901 VersionError."""
    answer = raw_call(endpoints, admin, {"method": "ping", "params": [[], {"version": "3.0"}]})
    assert answer["error"]["code"] == 901
    assert answer["error"]["name"] == "VersionError"
    assert answer["result"] is None
    assert set(answer) == {"result", "error", "id", "principal", "version"}


def test_missing_version_is_answered_with_a_warning(endpoints, admin: ClientMeta) -> None:
    """From source: without a version the server assumes its own and says so (13001)."""
    answer = raw_call(endpoints, admin, {"method": "ping", "params": [[], {}]})
    message = answer["result"]["messages"][0]
    assert message["code"] == 13001
    assert message["message"].startswith("API Version number was not sent")


def test_missing_referer_is_refused(endpoints, admin: ClientMeta) -> None:
    """From source: JSON without a Referer is 911 RefererError; form endpoints answer 400."""
    answer = raw_call(endpoints, admin, {"method": "ping", "params": [[], {}]}, referer=None)
    assert answer["error"]["code"] == 911
    assert answer["error"]["name"] == "RefererError"
    assert answer["error"]["message"] == "Missing or invalid HTTP Referer, missing"
    login = requests.post(
        _url(endpoints, "/ipa/session/login_password"),
        data={"user": "admin", "password": endpoints["FREEIPA_PASSWORD"]},
        headers={"Referer": "https://elsewhere.test/ipa"},
        verify=endpoints["FREEIPA_CA_FILE"],
        timeout=10,
    )
    assert login.status_code == 400


def test_adding_a_member_twice_reports_it_in_failed(admin: ClientMeta, person) -> None:
    """From source: group_add_member never raises per member; 'already a member' is in failed."""
    person("pat")
    admin.group_add("crew", o_description="Crew")
    first = admin.group_add_member(a_cn="crew", o_user=["pat"])
    assert first["completed"] == 1
    again = admin.group_add_member(a_cn="crew", o_user=["pat", "nobody"])
    assert again["completed"] == 0
    assert again["failed"]["member"]["user"] == [
        ["pat", "This entry is already a member"],
        ["nobody", "no such entry"],
    ]


def test_unknown_option_is_refused(endpoints, admin: ClientMeta) -> None:
    """From source: an option the command does not take is 3005 OptionError."""
    answer = raw_call(
        endpoints, admin, {"method": "user_find", "params": [[], {"pants": 1, "version": "2.253"}]}
    )
    assert answer["error"] == {
        "code": 3005,
        "message": "Unknown option: pants",
        "data": {"option": "pants"},
        "name": "OptionError",
    }


def test_username_rules(admin: ClientMeta) -> None:
    """From source: logins are lower-cased, follow the name pattern and are at most 32 long."""
    assert admin.user_add("MiXed", o_givenname="M", o_sn="X", o_cn="M X")["value"] == "mixed"
    with pytest.raises(ipa_errors.ValidationError, match="may only include letters"):
        admin.user_add("bad name", o_givenname="B", o_sn="N", o_cn="B N")
    with pytest.raises(ipa_errors.ValidationError, match="can be at most 32 characters"):
        admin.user_add("a" * 33, o_givenname="L", o_sn="N", o_cn="L N")


def test_person_added_through_the_stand_in_can_bind_until_disabled_or_preserved(
    endpoints, admin: ClientMeta, person
) -> None:
    """A user who chose a password binds to 389-ds; disabled cannot; preserved is gone."""
    person("pat")
    dn = user_dn(endpoints, "pat")
    assert ldap_bind(endpoints, dn, NEW_PASSWORD)
    assert not ldap_bind(endpoints, dn, PASSWORD)
    admin.user_disable("pat")
    assert not ldap_bind(endpoints, dn, NEW_PASSWORD)
    admin.user_enable("pat")
    assert ldap_bind(endpoints, dn, NEW_PASSWORD)
    admin.user_del("pat", o_preserve=True)
    directory = ldap.initialize(endpoints["LDAP_URI"])
    directory.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    with pytest.raises(ldap.NO_SUCH_OBJECT):
        directory.search_s(dn, ldap.SCOPE_BASE)
    preserved = user_dn(endpoints, "pat", "cn=deleted users,cn=accounts,cn=provisioning")
    assert directory.search_s(preserved, ldap.SCOPE_BASE)
    assert not ldap_bind(endpoints, preserved, NEW_PASSWORD)


def test_admin_set_password_expires_at_once_and_self_set_lasts_90_days(
    admin: ClientMeta, person
) -> None:
    """From source: an admin-set password expires when set; a self-set one after krbMaxPwdLife."""
    admin.user_add("sam", o_givenname="S", o_sn="M", o_cn="S M", o_userpassword=PASSWORD)
    added = admin.user_show("sam", o_all=True)["result"]
    assert added["krbpasswordexpiration"] == added["krblastpwdchange"]
    with pytest.raises(ipa_errors.PasswordExpired):
        ClientMeta(admin._host, verify_ssl=admin._verify_ssl).login("sam", PASSWORD)
    person("pat")
    chosen = admin.user_show("pat", o_all=True)["result"]
    last = chosen["krblastpwdchange"][0]["__datetime__"]
    expiry = chosen["krbpasswordexpiration"][0]["__datetime__"]
    assert expiry > last


def test_short_password_is_refused_by_policy(endpoints, admin: ClientMeta) -> None:
    """From source: a password under krbPwdMinLength (8) is a policy error."""
    admin.user_add("sam", o_givenname="S", o_sn="M", o_cn="S M", o_userpassword=PASSWORD)
    response = change_password(endpoints, "sam", PASSWORD, "short")
    assert response.headers["X-IPA-Pwchange-Result"] == "policy-error"
    assert (
        response.headers["X-IPA-Pwchange-Policy-Error"]
        == "Constraint violation: Password is too short"
    )


def test_a_password_still_in_the_history_is_refused_by_policy(endpoints, admin: ClientMeta) -> None:
    """From source: passwordHistory keeps the last krbPwdHistoryLength passwords, the current
    one included, an admin-set one too (ipa-pwd-extop common.c:948-955, util/ipa_pwd.c:726-800);
    a self-change to one of them is refused last (ipa_pwd.c:668-679)."""
    admin.pwpolicy_mod(o_krbpwdhistorylength=2, o_krbminpwdlife=0)
    admin.user_add("sam", o_givenname="S", o_sn="M", o_cn="S M", o_userpassword=PASSWORD)
    same = change_password(endpoints, "sam", PASSWORD, PASSWORD)
    assert same.headers["X-IPA-Pwchange-Result"] == "policy-error"
    assert (
        same.headers["X-IPA-Pwchange-Policy-Error"]
        == "Constraint violation: Password reuse not permitted"
    )
    second, third = "second-Password-2", "third-Password-3"
    assert (
        change_password(endpoints, "sam", PASSWORD, second).headers["X-IPA-Pwchange-Result"] == "ok"
    )
    back = change_password(endpoints, "sam", second, PASSWORD)
    assert back.headers["X-IPA-Pwchange-Result"] == "policy-error"
    assert change_password(endpoints, "sam", second, third).headers["X-IPA-Pwchange-Result"] == "ok"
    # Two kept: the first password has dropped out.
    assert (
        change_password(endpoints, "sam", third, PASSWORD).headers["X-IPA-Pwchange-Result"] == "ok"
    )


def test_password_with_too_few_character_classes_is_refused_by_policy(
    endpoints, admin: ClientMeta
) -> None:
    """From source: krbPwdMinDiffChars counts character classes, checked before the length
    (util/ipa_pwd.c:572-665); a run of three equal characters costs a class."""
    admin.pwpolicy_mod(o_krbpwdmindiffchars=3, o_krbminpwdlife=0)
    admin.user_add("sam", o_givenname="S", o_sn="M", o_cn="S M", o_userpassword=PASSWORD)
    refused = change_password(endpoints, "sam", PASSWORD, "onlylowercase")
    assert (
        refused.headers["X-IPA-Pwchange-Policy-Error"]
        == "Constraint violation: Password is too simple"
    )
    repeated = change_password(endpoints, "sam", PASSWORD, "Lower-aaa")
    assert repeated.headers["X-IPA-Pwchange-Result"] == "policy-error"
    accepted = change_password(endpoints, "sam", PASSWORD, "Lower-case-1")
    assert accepted.headers["X-IPA-Pwchange-Result"] == "ok"
