"""A password set by a password-sync manager is not expired and skips the policy, as in FreeIPA.

From source (freeipa/freeipa b16f3b80, daemons/ipa-slapi-plugins/ipa-pwd-extop): a set by a DN
listed in passSyncManagersDNs on cn=ipa_pwd_extop,cn=plugins,cn=config is IPA_CHANGETYPE_DSMGR
(ipa_pwd_extop.c:583-592, prepost.c:867-880); ipapwd_CheckPolicy keeps only the policy's max life
and history length for it (common.c:645-660) and its policy error is ignored
(ipa_pwd_extop.c:604-618). A set by anyone else is IPA_CHANGETYPE_ADMIN: expired at once
(common.c:632-640), so under grace limit 0 it never binds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from python_freeipa import ClientMeta

import sandbox.freeipa as freeipa
from sandbox.freeipa import passwords
from sandbox.freeipa.bootstrap import reset
from sandbox.freeipa.encoding import from_generalized
from tests.sandbox.test_password_expiry import (
    BOUND,
    EXPIRED,
    NO_GRACE,
    TEMPORARY,
    add_user,
    bind,
    unique,
    user_dn,
)
from tests.stack import stack_services

stack = stack_services("directory", "freeipa")
pytestmark = pytest.mark.stack

SYNCED = "Synced-password-5"


@pytest.fixture
def endpoints(stack: dict[str, str]) -> Iterator[dict[str, str]]:
    tree = freeipa.tree_for(stack)
    reset(tree, grace_limit=NO_GRACE)
    yield stack
    passwords.pass_sync_managers_set(tree, [])
    reset(tree)


def test_password_set_by_a_non_manager_is_expired(endpoints, admin: ClientMeta) -> None:
    uid = unique("nosync")
    add_user(admin, uid)
    admin.user_mod(uid, o_userpassword=SYNCED)

    assert bind(endpoints, user_dn(endpoints, uid), SYNCED) == EXPIRED


def test_password_set_by_a_pass_sync_manager_binds_and_lasts_the_max_life(
    endpoints, admin: ClientMeta
) -> None:
    uid = unique("sync")
    add_user(admin, uid)
    tree = freeipa.tree_for(endpoints)
    passwords.pass_sync_managers_set(tree, [user_dn(endpoints, "admin").upper()])

    admin.user_mod(uid, o_userpassword=SYNCED)

    dn = user_dn(endpoints, uid)
    assert bind(endpoints, dn, SYNCED) == BOUND
    assert bind(endpoints, dn, TEMPORARY)["result"] == "INVALID_CREDENTIALS"
    shown = admin.user_show(uid, o_all=True)["result"]
    expires = shown["krbpasswordexpiration"][0]["__datetime__"]
    changed = shown["krblastpwdchange"][0]["__datetime__"]
    life = passwords.DEFAULT_POLICY["krbmaxpwdlife"]
    assert from_generalized(expires) - from_generalized(changed) == dt.timedelta(seconds=life)


def test_pass_sync_manager_skips_the_policy_checks(endpoints, admin: ClientMeta) -> None:
    """Too short for the policy, yet stored: FreeIPA leaves the policy to the sync tool."""
    uid = unique("short")
    add_user(admin, uid)
    tree = freeipa.tree_for(endpoints)
    passwords.pass_sync_managers_set(tree, [user_dn(endpoints, "admin")])

    admin.user_mod(uid, o_userpassword="Sh0rt")

    assert bind(endpoints, user_dn(endpoints, uid), "Sh0rt") == BOUND
