"""An expired password is refused over LDAP, as by a FreeIPA whose grace limit is 0 (this
module's setting; the stand-in starts with FreeIPA's install default, -1).

From source (FreeIPA's daemons/ipa-slapi-plugins/ipa-graceperiod/ipa_graceperiod.c,
ipagraceperiod_preop): once krbPasswordExpiration is past and passwordGraceUserTime has reached
the policy's passwordGraceLimit, a simple bind gets err=49 (invalid credentials) and, when the
client asks for it, the password policy control with the passwordExpired error. An admin-set
password is expired when set, so with --gracelimit=0 it never binds; the one a user chose
through change_password lasts krbMaxPwdLife. The stand-in has 389-ds's own password policy do
this, so the JupyterHub that logs people in over LDAP refuses the temporary password too.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import ldap
import pytest
import requests
from ldap.controls import DecodeControlTuples
from ldap.controls.ppolicy import PasswordPolicyControl
from python_freeipa import ClientMeta
from python_freeipa import exceptions as ipa_errors

import sandbox.freeipa as freeipa
from sandbox.freeipa.bootstrap import reset
from tests.lifecycle.observe import freeipa_password_change_by_form
from tests.stack import SessionStack, stack_services

stack_with_hub = stack_services("directory", "freeipa", "jupyterhub")
pytestmark = pytest.mark.stack

TEMPORARY = "Temporary-password-1"
CHOSEN = "Chosen-password-22"
RESET_AGAIN = "Admin-reset-password-3"
CHOSEN_AGAIN = "Chosen-again-password-4"
# draft-behera-ldap-password-policy: PasswordPolicyResponseValue error passwordExpired (0).
PASSWORD_EXPIRED = 0


# `ipa pwpolicy-mod --gracelimit=0`: no expired password binds at all.
NO_GRACE = 0


@pytest.fixture
def endpoints(stack_with_hub: dict[str, str]) -> Iterator[dict[str, str]]:
    tree = freeipa.tree_for(stack_with_hub)
    reset(tree, grace_limit=NO_GRACE)
    yield stack_with_hub
    # Later tests of the session expect the stand-in's default policy back.
    reset(tree)


@pytest.fixture
def hub(endpoints: dict[str, str]) -> Iterator[list[str]]:
    """Names to remove from the hub afterwards (its database outlives the directory's users)."""
    names: list[str] = []
    yield names
    for name in names:
        response = requests.delete(
            f"{endpoints['JUPYTERHUB_URL']}/hub/api/users/{name}",
            headers={"Authorization": f"token {endpoints['JUPYTERHUB_API_TOKEN']}"},
            timeout=30,
        )
        assert response.status_code in (204, 404)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def add_user(admin: ClientMeta, uid: str, password: str = TEMPORARY) -> None:
    admin.user_add(
        uid, o_givenname="Pat", o_sn="Expiry", o_cn="Pat Expiry", o_userpassword=password
    )


def user_dn(endpoints: dict[str, str], uid: str) -> str:
    return f"uid={uid},cn=users,cn=accounts,{endpoints['LDAP_BASE_DN']}"


def bind(endpoints: dict[str, str], dn: str, password: str) -> dict:
    """A simple bind asking for the password policy control; what the server answered."""
    connection = ldap.initialize(endpoints["LDAP_URI"])
    connection.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    try:
        _, _, _, controls = connection.simple_bind_s(
            dn, password, serverctrls=[PasswordPolicyControl()]
        )
    except ldap.LDAPError as error:
        details = error.args[0]
        return {
            "result": type(error).__name__,
            "info": details.get("info", ""),
            "policy": _policy(DecodeControlTuples(details.get("ctrls") or [])),
        }
    finally:
        connection.unbind_s()
    return {"result": "SUCCESS", "info": "", "policy": _policy(controls)}


def _policy(controls: list) -> dict | None:
    for control in controls:
        if isinstance(control, PasswordPolicyControl):
            return {"error": control.error, "grace": control.graceAuthNsRemaining}
    return None


change_password = freeipa_password_change_by_form
# Enough grace logins for a test's changes; each spends one.
GRACE_FOR_CHANGES = 5


def change_in_grace(admin: ClientMeta, endpoints: dict[str, str], uid: str, old: str, new: str):
    """change_password as a person makes it in a grace login: at grace limit 0 FreeIPA refuses
    it (test_change_password_needs_a_grace_login), so the policy allows some for the change."""
    admin.pwpolicy_mod(o_passwordgracelimit=GRACE_FOR_CHANGES)
    try:
        return change_password(endpoints, uid, old, new)
    finally:
        admin.pwpolicy_mod(o_passwordgracelimit=NO_GRACE)


def ipa_login(endpoints: dict[str, str], uid: str, password: str) -> str:
    """login_password's answer: ok, or the X-IPA-Rejection-Reason."""
    host = f"https://{endpoints['FREEIPA_HOST']}"
    response = requests.post(
        f"{host}/ipa/session/login_password",
        data={"user": uid, "password": password},
        headers={"Referer": f"{host}/ipa/session/login_password"},
        verify=endpoints["FREEIPA_CA_FILE"],
        timeout=10,
    )
    return "ok" if response.status_code == 200 else response.headers["X-IPA-Rejection-Reason"]


def hub_login(endpoints: dict[str, str], username: str, password: str) -> bool:
    """The hub's login form, as a person uses it; True when it lets them in."""
    browser = requests.Session()
    url = endpoints["JUPYTERHUB_URL"]
    form = browser.get(f"{url}/hub/login", timeout=10)
    xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', form.text)
    assert xsrf, "the hub's login form has no _xsrf field"
    response = browser.post(
        f"{url}/hub/login",
        data={"username": username, "password": password, "_xsrf": xsrf.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code == 302 and "/hub/login" not in response.headers["Location"]:
        return True
    assert response.status_code == 403, response.status_code
    return False


EXPIRED = {
    "result": "INVALID_CREDENTIALS",
    "info": "password expired!",
    "policy": {"error": PASSWORD_EXPIRED, "grace": None},
}
WRONG = {"result": "INVALID_CREDENTIALS", "info": "", "policy": None}
BOUND = {"result": "SUCCESS", "info": "", "policy": None}


def test_admin_set_password_is_refused_over_ldap_as_expired(endpoints, admin) -> None:
    """From source: err=49 with the passwordExpired control, and the password was not wrong."""
    uid = unique("temp")
    add_user(admin, uid)
    dn = user_dn(endpoints, uid)

    assert bind(endpoints, dn, TEMPORARY) == EXPIRED
    # Refused without the control too: any LDAP client is kept out.
    connection = ldap.initialize(endpoints["LDAP_URI"])
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        connection.simple_bind_s(dn, TEMPORARY)
    # FreeIPA's own login still tells an expired password from a wrong one.
    assert ipa_login(endpoints, uid, TEMPORARY) == "password-expired"
    assert ipa_login(endpoints, uid, "not-the-password") == "invalid-password"


def test_expired_temporary_password_cannot_log_in_to_the_hub_but_the_chosen_one_can(
    endpoints, admin, hub
) -> None:
    uid = unique("hub")
    hub.append(uid)
    add_user(admin, uid)
    # As onboarding does: the hub lets in only users created through its API.
    created = requests.post(
        f"{endpoints['JUPYTERHUB_URL']}/hub/api/users/{uid}",
        headers={"Authorization": f"token {endpoints['JUPYTERHUB_API_TOKEN']}"},
        timeout=30,
    )
    assert created.status_code == 201

    assert not hub_login(endpoints, uid, TEMPORARY)
    assert change_in_grace(admin, endpoints, uid, TEMPORARY, CHOSEN) == "ok"
    assert not hub_login(endpoints, uid, TEMPORARY)
    assert hub_login(endpoints, uid, CHOSEN)


def test_chosen_password_binds_and_an_admin_reset_expires_it_again(endpoints, admin) -> None:
    uid = unique("reset")
    add_user(admin, uid)
    dn = user_dn(endpoints, uid)
    assert change_in_grace(admin, endpoints, uid, TEMPORARY, CHOSEN) == "ok"

    assert bind(endpoints, dn, CHOSEN) == BOUND
    assert bind(endpoints, dn, TEMPORARY) == WRONG

    admin.user_mod(uid, o_userpassword=RESET_AGAIN)
    assert bind(endpoints, dn, RESET_AGAIN) == EXPIRED
    assert bind(endpoints, dn, CHOSEN) == WRONG
    # Right after an admin reset the minimum password life does not apply (util/ipa_pwd.c).
    assert change_in_grace(admin, endpoints, uid, RESET_AGAIN, CHOSEN_AGAIN) == "ok"
    assert bind(endpoints, dn, CHOSEN_AGAIN) == BOUND
    assert bind(endpoints, dn, RESET_AGAIN) == WRONG


def test_random_password_set_by_an_admin_is_expired_too(endpoints, admin) -> None:
    uid = unique("random")
    add_user(admin, uid)
    assert change_in_grace(admin, endpoints, uid, TEMPORARY, CHOSEN) == "ok"
    random_password = admin.user_mod(uid, o_random=True)["result"]["randompassword"]

    assert bind(endpoints, user_dn(endpoints, uid), random_password) == EXPIRED


def test_wrong_password_is_still_just_invalid_credentials(endpoints, admin) -> None:
    """Bad day: 389-ds checks the password before its expiry, so a wrong one says nothing more.

    (FreeIPA's plugin runs before the password check and answers "Password is expired." to a
    wrong password of an expired account too; the result code is the same, 49.)
    """
    expired, chosen = unique("wrongx"), unique("wrongc")
    add_user(admin, expired)
    add_user(admin, chosen)
    assert change_in_grace(admin, endpoints, chosen, TEMPORARY, CHOSEN) == "ok"

    assert bind(endpoints, user_dn(endpoints, expired), "Wrong-password-9") == WRONG
    assert bind(endpoints, user_dn(endpoints, chosen), "Wrong-password-9") == WRONG
    assert bind(endpoints, user_dn(endpoints, unique("nobody")), TEMPORARY) == WRONG


def test_change_password_needs_the_right_old_password_and_a_valid_new_one(endpoints, admin) -> None:
    """Bad day: a wrong old password or a too short new one leaves the temporary one expired."""
    uid = unique("change")
    add_user(admin, uid)
    dn = user_dn(endpoints, uid)

    assert change_in_grace(admin, endpoints, uid, "Wrong-password-9", CHOSEN) == "invalid-password"
    assert change_in_grace(admin, endpoints, uid, TEMPORARY, "short") == "policy-error"
    assert bind(endpoints, dn, TEMPORARY) == EXPIRED
    assert bind(endpoints, dn, CHOSEN) == WRONG
    assert change_in_grace(admin, endpoints, uid, TEMPORARY, CHOSEN) == "ok"
    assert bind(endpoints, dn, CHOSEN) == BOUND
    # The expired password is gone: it changes nothing any more.
    assert change_password(endpoints, uid, TEMPORARY, CHOSEN_AGAIN) == "invalid-password"


def test_change_password_needs_a_grace_login(endpoints, admin) -> None:
    """From source: change_password binds as the user with the old password first, and at
    grace limit 0 that bind is refused, so the endpoint answers invalid-password."""
    uid = unique("nograce")
    add_user(admin, uid)
    dn = user_dn(endpoints, uid)

    assert change_password(endpoints, uid, TEMPORARY, CHOSEN) == "invalid-password"
    assert bind(endpoints, dn, TEMPORARY) == EXPIRED
    assert bind(endpoints, dn, CHOSEN) == WRONG


def test_change_password_spends_one_of_n_grace_logins(endpoints, admin) -> None:
    """From source: with N > 0 the change's bind is one of the N; once they are spent, it is
    refused like any other bind."""
    admin.pwpolicy_mod(o_passwordgracelimit=2)
    spent, kept = unique("spent"), unique("kept")
    add_user(admin, spent)
    add_user(admin, kept)
    for _ in range(2):
        assert bind(endpoints, user_dn(endpoints, spent), TEMPORARY)["result"] == "SUCCESS"
    assert change_password(endpoints, spent, TEMPORARY, CHOSEN) == "invalid-password"

    assert bind(endpoints, user_dn(endpoints, kept), TEMPORARY)["policy"]["grace"] == 1
    assert change_password(endpoints, kept, TEMPORARY, CHOSEN) == "ok"
    assert bind(endpoints, user_dn(endpoints, kept), CHOSEN) == BOUND


def test_change_password_with_unlimited_grace_always_works(endpoints, admin) -> None:
    admin.pwpolicy_mod(o_passwordgracelimit=-1)
    uid = unique("always")
    add_user(admin, uid)
    for _ in range(3):
        assert bind(endpoints, user_dn(endpoints, uid), TEMPORARY) == BOUND
    assert change_password(endpoints, uid, TEMPORARY, CHOSEN) == "ok"
    assert bind(endpoints, user_dn(endpoints, uid), CHOSEN) == BOUND


def test_disabled_user_stays_refused_whatever_the_password(endpoints, admin) -> None:
    uid = unique("locked")
    add_user(admin, uid)
    assert change_in_grace(admin, endpoints, uid, TEMPORARY, CHOSEN) == "ok"
    admin.user_disable(uid)

    connection = ldap.initialize(endpoints["LDAP_URI"])
    with pytest.raises(ldap.UNWILLING_TO_PERFORM):
        connection.simple_bind_s(user_dn(endpoints, uid), CHOSEN)


def test_directory_manager_and_the_stand_in_admin_still_bind(endpoints) -> None:
    """The service binds and the admin's LDAP login (scripts/run-local) are untouched."""
    assert bind(endpoints, endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"]) == BOUND
    admin_dn = user_dn(endpoints, endpoints["FREEIPA_USERNAME"])
    assert bind(endpoints, admin_dn, endpoints["FREEIPA_PASSWORD"]) == BOUND
    assert ipa_login(endpoints, "admin", endpoints["FREEIPA_PASSWORD"]) == "ok"


@pytest.mark.django_db
def test_admin_logs_in_to_accessadmin_and_a_temporary_password_does_not(
    endpoints, admin, settings
) -> None:
    """The directory login of the web UI, as scripts/run-local offers it to FreeIPA's admin."""
    from web.auth import DirectoryBackend

    settings.AUTH_LDAP_SERVER_URI = endpoints["LDAP_URI"]
    settings.AUTH_LDAP_BIND_DN = endpoints["LDAP_BIND_DN"]
    settings.AUTH_LDAP_BIND_PASSWORD = endpoints["LDAP_BIND_PASSWORD"]
    backend = DirectoryBackend()
    user = backend.authenticate(
        None, username=endpoints["FREEIPA_USERNAME"], password=endpoints["FREEIPA_PASSWORD"]
    )
    assert user is not None and user.get_username() == "admin"

    uid = unique("web")
    add_user(admin, uid)
    assert backend.authenticate(None, username=uid, password=TEMPORARY) is None
    assert change_in_grace(admin, endpoints, uid, TEMPORARY, CHOSEN) == "ok"
    assert backend.authenticate(None, username=uid, password=CHOSEN) is not None


def test_grace_limit_lets_an_expired_password_bind_that_many_times(endpoints, admin) -> None:
    """From source: within the limit a bind succeeds and the control counts down; then 49."""
    admin.pwpolicy_mod(o_passwordgracelimit=2)
    uid = unique("grace")
    add_user(admin, uid)
    dn = user_dn(endpoints, uid)

    assert bind(endpoints, dn, TEMPORARY)["policy"] == {"error": None, "grace": 1}
    assert bind(endpoints, dn, TEMPORARY)["policy"] == {"error": None, "grace": 0}
    assert bind(endpoints, dn, TEMPORARY) == EXPIRED
    # A password written again starts the count again.
    admin.user_mod(uid, o_userpassword=RESET_AGAIN)
    assert bind(endpoints, dn, RESET_AGAIN)["result"] == "SUCCESS"


def test_unlimited_grace_is_freeipas_default_behaviour(endpoints, admin) -> None:
    """From source: -1 skips the check, so the expired password binds forever."""
    admin.pwpolicy_mod(o_passwordgracelimit=-1)
    uid = unique("unlimited")
    add_user(admin, uid)

    for _ in range(3):
        assert bind(endpoints, user_dn(endpoints, uid), TEMPORARY) == BOUND
    admin.pwpolicy_mod(o_passwordgracelimit=0)
    assert bind(endpoints, user_dn(endpoints, uid), TEMPORARY) == EXPIRED


def test_grace_limit_below_minus_one_is_refused(endpoints, admin) -> None:
    """From source: Int('passwordgracelimit?', cli_name='gracelimit', minvalue=-1)."""
    with pytest.raises(
        ipa_errors.ValidationError, match="invalid 'gracelimit': must be at least -1"
    ):
        admin.pwpolicy_mod(o_passwordgracelimit=-2)
    shown = admin.pwpolicy_show()["result"]
    assert shown["passwordgracelimit"] == [str(NO_GRACE)]


def test_group_policy_grace_limit_is_kept_but_only_the_global_one_is_enforced(
    endpoints, admin
) -> None:
    """A documented limit of the stand-in: 389-ds's policy here is the global one only."""
    admin.group_add("graceful", o_description="graceful")
    admin.pwpolicy_add("graceful", o_cospriority=5, o_passwordgracelimit=-1)
    uid = unique("member")
    add_user(admin, uid)
    admin.group_add_member("graceful", o_user=[uid])

    assert admin.pwpolicy_show("graceful")["result"]["passwordgracelimit"] == ["-1"]
    assert bind(endpoints, user_dn(endpoints, uid), TEMPORARY) == EXPIRED


def test_config_sets_the_grace_limit_at_start(
    endpoints, admin, sandbox_session: SessionStack
) -> None:
    """config.json's password_grace_limit is what the global policy gets at every start."""
    config_path = sandbox_session.state_dir / "freeipa" / "config.json"
    original = config_path.read_text()
    uid = unique("config")
    add_user(admin, uid)
    dn = user_dn(endpoints, uid)
    try:
        _write_grace_limit(config_path, NO_GRACE)
        freeipa.start(sandbox_session.state_dir, endpoints)
        assert admin.pwpolicy_show()["result"]["passwordgracelimit"] == ["0"]
        assert bind(endpoints, dn, TEMPORARY) == EXPIRED
    finally:
        config_path.write_text(original)
        freeipa.start(sandbox_session.state_dir, endpoints)
    # The stand-in's own default: FreeIPA's install default.
    assert admin.pwpolicy_show()["result"]["passwordgracelimit"] == ["-1"]
    assert bind(endpoints, dn, TEMPORARY) == BOUND


def test_start_mirrors_the_expiry_of_users_from_an_older_stand_in(
    endpoints, admin, sandbox_session: SessionStack
) -> None:
    """A state dir from before: users without passwordExpirationTime get it at the next start."""
    uid = unique("older")
    add_user(admin, uid)
    dn = user_dn(endpoints, uid)
    manager = ldap.initialize(endpoints["LDAP_URI"])
    manager.simple_bind_s(endpoints["LDAP_BIND_DN"], endpoints["LDAP_BIND_PASSWORD"])
    manager.modify_s(dn, [(ldap.MOD_DELETE, "passwordExpirationTime", None)])

    freeipa.start(sandbox_session.state_dir, endpoints)

    found = manager.search_s(
        dn, ldap.SCOPE_BASE, attrlist=["passwordExpirationTime", "krbPasswordExpiration"]
    )[0][1]
    assert found["passwordExpirationTime"] == found["krbPasswordExpiration"]
    admin.pwpolicy_mod(o_passwordgracelimit=NO_GRACE)
    assert bind(endpoints, dn, TEMPORARY) == EXPIRED


@pytest.mark.parametrize("value", ["0", -2, 2**31, True, None])
def test_config_refuses_a_grace_limit_that_is_not_one(
    value, endpoints, sandbox_session: SessionStack
) -> None:
    config_path = sandbox_session.state_dir / "freeipa" / "config.json"
    original = config_path.read_text()
    try:
        _write_grace_limit(config_path, value)
        with pytest.raises(ValueError, match="password_grace_limit must be an integer from -1"):
            freeipa.start(sandbox_session.state_dir, endpoints)
    finally:
        config_path.write_text(original)


def _write_grace_limit(config_path: Path, value: object) -> None:
    config = json.loads(config_path.read_text())
    config["password_grace_limit"] = value
    config_path.write_text(json.dumps(config, indent=2))


@pytest.mark.django_db
def test_an_accessadmin_login_with_an_expired_password_spends_no_grace_login(
    endpoints, admin, settings
) -> None:
    """AccessAdmin reads the expiry through its own service bind before binding as the person:
    with a grace limit of 2, three refused logins leave both grace logins to the newcomer."""
    from web.auth import DirectoryBackend

    settings.AUTH_LDAP_SERVER_URI = endpoints["LDAP_URI"]
    settings.AUTH_LDAP_BIND_DN = endpoints["LDAP_BIND_DN"]
    settings.AUTH_LDAP_BIND_PASSWORD = endpoints["LDAP_BIND_PASSWORD"]
    settings.LDAP_USER_BASE_DN = f"cn=users,cn=accounts,{endpoints['LDAP_BASE_DN']}"
    admin.pwpolicy_mod(o_passwordgracelimit=2)
    uid = unique("spent")
    add_user(admin, uid)

    for _ in range(3):
        assert DirectoryBackend().authenticate(None, username=uid, password=TEMPORARY) is None

    dn = user_dn(endpoints, uid)
    assert bind(endpoints, dn, TEMPORARY)["policy"] == {"error": None, "grace": 1}
