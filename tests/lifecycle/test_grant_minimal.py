"""The grant is minimal: without any one of its permissions, the call that needs it fails with
FreeIPA's refusal, and works again once the permission is back.

Each case takes one permission out of the service account's privilege, as an admin would with
`ipa privilege-remove-permission`, and makes the call AccessAdmin makes as that account.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from python_freeipa import ClientMeta

from onboarding.errors import AccessAdminError, NotFound
from onboarding.systems import clients
from onboarding.systems.freeipa.client import FreeIPA
from onboarding.systems.freeipa.grant import PRIVILEGE, REQUIRED_PERMISSIONS

PASSWORD = "first-Password-1"


@pytest.fixture
def admin(stack_configured) -> Iterator[ClientMeta]:
    client = ClientMeta(
        stack_configured["FREEIPA_HOST"], verify_ssl=stack_configured["FREEIPA_CA_FILE"]
    )
    client.login(stack_configured["FREEIPA_USERNAME"], stack_configured["FREEIPA_PASSWORD"])
    yield client
    client.logout()


def new_name(prefix: str = "g") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def person(admin: ClientMeta, *, preserved: bool = False, token: bool = False) -> str:
    uid = new_name()
    admin.user_add(uid, o_givenname="Pat", o_sn="Doe", o_cn="Pat Doe", o_userpassword=PASSWORD)
    if token:
        admin.otptoken_add(o_ipatokenowner=uid, o_description="phone")
    if preserved:
        admin.user_del(uid, o_preserve=True)
    return uid


def team_group(admin: ClientMeta) -> str:
    name = new_name("team-")
    admin.group_add(name, o_description="A team")
    return name


def user_add(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    return lambda ipa: ipa.user_create(
        username=new_name(), first_name="Ada", last_name="Example",
        email="ada@example.test", password=PASSWORD,
    )  # fmt: skip


def preserve(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin)
    return lambda ipa: ipa.user_preserve(username=uid)


def restore(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin, preserved=True)
    return lambda ipa: ipa.user_restore(username=uid)


def read_preserved(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin, preserved=True)

    def seen(ipa: FreeIPA) -> None:
        if ipa.user_find(username=uid) is None:
            raise NotFound("freeipa", f"user_show: {uid}: user not found")

    return seen


def read_tokens(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin, token=True)

    def seen(ipa: FreeIPA) -> None:
        if not ipa.otp_tokens(username=uid):
            raise NotFound("freeipa", f"otptoken_find: no token of {uid} visible")

    return seen


def reset_password(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin)
    return lambda ipa: ipa.user_reset_password(username=uid, password="second-Password-2")


def details(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin)
    return lambda ipa: ipa.user_details_set(
        username=uid, first_name="Pat", last_name="Other", email=f"{uid}@elsewhere.test"
    )


def disable(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin)
    return lambda ipa: ipa.user_disable(username=uid)


def delete(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin)
    return lambda ipa: ipa.user_delete(username=uid)


def add_group(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    return lambda ipa: ipa.group_ensure(name=new_name("team-"), description="A team")


def add_member(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid, group = person(admin), team_group(admin)
    return lambda ipa: ipa.group_add_members(username=uid, groups=[group])


def add_manager(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid, group = person(admin), team_group(admin)
    return lambda ipa: ipa.group_add_manager(group=group, username=uid)


def add_token(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin)
    return lambda ipa: ipa.otp_token_add(username=uid, description="phone")


def delete_tokens(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    uid = person(admin, token=True)
    return lambda ipa: ipa.otp_tokens_delete(username=uid)


def own_rights(admin: ClientMeta) -> Callable[[FreeIPA], object]:
    return lambda ipa: ipa.account_rights()


# permission -> (sets up and returns the call that needs it, what the refusal says)
CASES: dict[str, tuple[Callable[[ClientMeta], Callable[[FreeIPA], object]], str]] = {
    "System: Read UPG Definition": (user_add, "Could not read UPG Definition originfilter"),
    "System: Add Users": (user_add, "Insufficient 'add' privilege to add the entry"),
    "System: Change User password": (reset_password, "Insufficient access"),
    "System: Modify Users": (details, "Insufficient 'write' privilege to the 'sn' attribute"),
    "System: Unlock User": (disable, "Insufficient 'write' privilege to the 'nsAccountLock'"),
    "System: Remove Users": (delete, "Insufficient 'delete' privilege"),
    "System: Preserve User": (preserve, "Insufficient 'moddn' privilege"),
    # Without the write on the RDN, 389-ds refuses the move with its generic text.
    "System: Modify User RDN": (preserve, "Insufficient access: Insufficient access rights"),
    "System: Undelete User": (restore, "Insufficient 'moddn' privilege"),
    "System: Read Preserved Users": (read_preserved, "user not found"),
    "System: Modify Preserved Users": (preserve, "Insufficient 'write' privilege"),
    "System: Add Groups": (add_group, "Insufficient 'add' privilege"),
    "System: Modify Group Membership": (add_member, "'write' privilege to the 'member' attribute"),
    "System: Modify Groups": (add_manager, "Insufficient 'write' privilege to the 'memberManager'"),
    "System: Read Roles": (own_rights, "role not found"),
    "System: Read Privileges": (own_rights, "privilege not found"),
    "AccessAdmin Add OTP tokens": (add_token, "Insufficient 'add' privilege"),
    "AccessAdmin Read OTP tokens": (read_tokens, "no token of"),
    "AccessAdmin Remove OTP tokens": (delete_tokens, "Insufficient 'delete' privilege"),
    "AccessAdmin Manage OTP token owners": (add_token, "'write' privilege to the 'managedBy'"),
    "AccessAdmin Set user authentication types": (
        reset_password, "Insufficient 'write' privilege to the 'ipaUserAuthType'",
    ),
}  # fmt: skip


def test_every_permission_of_the_grant_has_a_call_that_needs_it():
    assert set(CASES) == set(REQUIRED_PERMISSIONS)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("permission", sorted(CASES))
def test_without_the_permission_its_call_is_refused_and_with_it_works(
    permission, admin, stack_configured
):
    setup, refusal = CASES[permission]
    ipa = clients().freeipa
    refused_call = setup(admin)
    admin.privilege_remove_permission(PRIVILEGE, o_permission=[permission])
    try:
        with pytest.raises(AccessAdminError) as error:
            refused_call(ipa)
    finally:
        admin.privilege_add_permission(PRIVILEGE, o_permission=[permission])
    assert refusal in str(error.value), str(error.value)
    setup(admin)(ipa)
