"""FreeIPA's default permissions, privileges and roles, as an install puts them in the directory.

Each managed permission follows the `managed_permissions` entry of the FreeIPA plugin cited
beside it (freeipa/freeipa, snapshot b16f3b80); `update_entry` in
ipaserver/install/plugins/update_managed_permissions.py:583-660 turns such a template into the
entry: flags SYSTEM, V2, MANAGED; the object type's container and objectclass filter unless the
template names others. Only the permissions of objects the stand-in keeps are here (no hosts,
services, compat tree, certificates); docs/freeipa-permissions.md lists what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass

# FreeIPA object types a permission may name with `type`: container and objectclass filter
# (`container_dn` and `permission_filter_objectclasses` of each plugin; permission.py:817-826
# joins several classes with `|`). otptoken has no permission_filter_objectclasses, so
# `type=otptoken` is refused (permission.py:146-153).
PERMISSION_TYPES: dict[str, tuple[str, str]] = {
    "user": ("cn=users,cn=accounts", "(objectclass=posixaccount)"),  # user.py:188
    "stageuser": ("cn=staged users,cn=accounts,cn=provisioning", "(objectclass=posixaccount)"),
    "group": ("cn=groups,cn=accounts", "(|(objectclass=ipausergroup)(objectclass=posixgroup))"),
    "role": ("cn=roles,cn=accounts", "(objectclass=groupofnames)"),  # role.py:84
    "privilege": ("cn=privileges,cn=pbac", "(objectclass=groupofnames)"),  # privilege.py:144
    "permission": ("cn=permissions,cn=pbac", "(objectclass=ipapermission)"),  # permission.py:186
}
# FreeIPA objects that exist but are no permission type.
NOT_PERMISSION_TYPES = frozenset({"otptoken", "pwpolicy", "config"})

PERMISSION_CLASSES = ["top", "groupofnames", "ipapermission", "ipapermissionv2"]
PRIVILEGE_CLASSES = ["nestedgroup", "groupofnames", "top"]
ROLE_CLASSES = ["groupofnames", "nestedgroup", "top"]

READ = ("read", "search", "compare")
# user.py:138-142
ADMINS_FILTER = "(memberOf=cn=admins,cn=groups,cn=accounts,{base})"
NOT_ADMINS = f"(!{ADMINS_FILTER})"
USER_FILTER = "(objectclass=posixaccount)"
STAGED = "cn=staged users,cn=accounts,cn=provisioning"
UPG_DEFINITION = "cn=UPG Definition,cn=Definitions,cn=Managed Entries,cn=etc,{base}"
DELETED = "cn=deleted users,cn=accounts,cn=provisioning"
SUBIDS = "cn=subids,cn=accounts,{base}"
SUBID_FILTER = "(objectclass=ipasubordinateidentry)"  # subid.py:79-81
ANY = "(objectclass=*)"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@dataclass(frozen=True)
class ManagedPermission:
    """One `managed_permissions` template; DNs are relative to the suffix ({base} = suffix)."""

    name: str
    source: str
    rights: tuple[str, ...]
    kind: str | None = None
    attrs: tuple[str, ...] = ()
    filters: tuple[str, ...] | None = None
    location: str | None = None
    target: str | None = None
    target_from: str | None = None
    target_to: str | None = None
    bind: str = "permission"
    privileges: tuple[str, ...] = ()


USER_ADMINS = ("User Administrators",)
STAGE_ADMINS = ("Stage User Administrators",)
GROUP_ADMINS = ("Group Administrators",)
HELPDESK_USERS = ("User Administrators", "Modify Users and Reset passwords")
DELEGATION = ("Delegation Administrator",)
RBAC_READERS = ("RBAC Readers",)

MANAGED_PERMISSIONS: tuple[ManagedPermission, ...] = (
    ManagedPermission(
        "System: Read User Standard Attributes",
        "ipaserver/plugins/user.py:190-200",
        READ,
        "user",
        bind="anonymous",
        attrs=_words(
            "objectclass cn sn description title uid displayname givenname initials manager gecos "
            "gidnumber homedirectory loginshell uidnumber ipantsecurityidentifier"
        ),
    ),
    ManagedPermission(
        "System: Read User Addressbook Attributes",
        "ipaserver/plugins/user.py:201-222",
        READ,
        "user",
        bind="all",
        attrs=_words(
            "seealso telephonenumber facsimiletelephonenumber l ou st postalcode street "
            "destinationindicator internationalisdnnumber physicaldeliveryofficename "
            "postaladdress postofficebox preferreddeliverymethod registeredaddress "
            "teletexterminalidentifier telexnumber x121address carlicense departmentnumber "
            "employeenumber employeetype preferredlanguage mail mobile pager audio "
            "businesscategory homephone homepostaladdress jpegphoto labeleduri o photo roomnumber "
            "secretary usercertificate usersmimecertificate x500uniqueidentifier inetuserhttpurl "
            "inetuserstatus ipacertmapdata"
        ),
    ),
    ManagedPermission(
        "System: Read User IPA Attributes",
        "ipaserver/plugins/user.py:223-232",
        READ,
        "user",
        bind="all",
        attrs=("ipauniqueid", "ipasshpubkey", "ipauserauthtype", "userclass", "ipapasskey"),
    ),
    ManagedPermission(
        "System: Read User Kerberos Attributes",
        "ipaserver/plugins/user.py:233-242",
        READ,
        "user",
        bind="all",
        attrs=_words(
            "krbprincipalname krbcanonicalname krbprincipalaliases krbprincipalexpiration "
            "krbpasswordexpiration krblastpwdchange nsaccountlock krbprincipaltype"
        ),
    ),
    ManagedPermission(
        "System: Read User Kerberos Login Attributes",
        "ipaserver/plugins/user.py:243-253",
        READ,
        "user",
        attrs=_words(
            "krblastsuccessfulauth krblastfailedauth krblastpwdchange krblastadminunlock "
            "krbloginfailedcount krbpwdpolicyreference krbticketpolicyreference krbupenabled"
        ),
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Read User Membership",
        "ipaserver/plugins/user.py:254-261",
        READ,
        "user",
        bind="all",
        attrs=("memberof",),
    ),
    ManagedPermission(
        "System: Read UPG Definition",
        "ipaserver/plugins/user.py:262-271",
        READ,
        filters=(),
        location=UPG_DEFINITION,
        target=UPG_DEFINITION,
        attrs=("*",),
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Add Users",
        "ipaserver/plugins/user.py:272-278",
        ("add",),
        "user",
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Add User to default group",
        "ipaserver/plugins/user.py:279-290",
        ("write",),
        filters=(),
        location="cn=groups,cn=accounts,{base}",
        target="cn=ipausers,cn=groups,cn=accounts,{base}",
        attrs=("member",),
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Change User password",
        "ipaserver/plugins/user.py:291-311",
        ("write",),
        "user",
        filters=(USER_FILTER, NOT_ADMINS),
        attrs=_words(
            "krbprincipalkey passwordhistory sambalmpassword sambantpassword userpassword "
            "krbpasswordexpiration"
        ),
        privileges=(*HELPDESK_USERS, "PassSync Service"),
    ),
    ManagedPermission(
        "System: Change Admin User password",
        "ipaserver/plugins/user.py:312-324",
        ("write",),
        "user",
        filters=(ADMINS_FILTER,),
        attrs=_words(
            "krbprincipalkey passwordhistory sambalmpassword sambantpassword userpassword "
            "krbpasswordexpiration"
        ),
        privileges=("PassSync Service",),
    ),
    ManagedPermission(
        "System: Manage User SSH Public Keys",
        "ipaserver/plugins/user.py:325-336",
        ("write",),
        "user",
        filters=(USER_FILTER, NOT_ADMINS),
        attrs=("ipasshpubkey",),
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Manage User Certificates",
        "ipaserver/plugins/user.py:337-348",
        ("write",),
        "user",
        filters=(USER_FILTER, NOT_ADMINS),
        attrs=("usercertificate",),
        privileges=HELPDESK_USERS,
    ),
    ManagedPermission(
        "System: Manage User Principals",
        "ipaserver/plugins/user.py:349-360",
        ("write",),
        "user",
        filters=(USER_FILTER, NOT_ADMINS),
        attrs=("krbprincipalname", "krbcanonicalname"),
        privileges=HELPDESK_USERS,
    ),
    ManagedPermission(
        "System: Modify Users",
        "ipaserver/plugins/user.py:361-385",
        ("write",),
        "user",
        filters=(USER_FILTER, NOT_ADMINS),
        attrs=_words(
            "businesscategory carlicense cn departmentnumber description displayname employeetype "
            "employeenumber facsimiletelephonenumber gecos givenname homedirectory homephone "
            "inetuserhttpurl initials l labeleduri loginshell manager mail mepmanagedentry mobile "
            "objectclass ou pager postalcode roomnumber secretary seealso sn st street "
            "telephonenumber title userclass preferredlanguage"
        ),
        privileges=HELPDESK_USERS,
    ),
    ManagedPermission(
        "System: Remove Users",
        "ipaserver/plugins/user.py:386-396",
        ("delete",),
        "user",
        filters=(USER_FILTER, NOT_ADMINS),
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Unlock User",
        "ipaserver/plugins/user.py:397-410",
        ("write",),
        "user",
        filters=(USER_FILTER, NOT_ADMINS),
        attrs=("krblastadminunlock", "krbloginfailedcount", "nsaccountlock"),
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Add Stage User",
        "ipaserver/plugins/stageuser.py:145-153",
        ("add",),
        "stageuser",
        filters=(ANY,),
        location=f"{STAGED},{{base}}",
        target=f"uid=*,{STAGED},{{base}}",
        attrs=("*",),
        privileges=(*STAGE_ADMINS, "Stage User Provisioning"),
    ),
    ManagedPermission(
        "System: Read Stage User password",
        "ipaserver/plugins/stageuser.py:155-165",
        READ,
        "stageuser",
        filters=(ANY,),
        location=f"{STAGED},{{base}}",
        target=f"uid=*,{STAGED},{{base}}",
        attrs=("userpassword", "krbprincipalkey"),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Modify Stage User",
        "ipaserver/plugins/stageuser.py:167-175",
        ("write",),
        "stageuser",
        filters=(ANY,),
        location=f"{STAGED},{{base}}",
        target=f"uid=*,{STAGED},{{base}}",
        attrs=("*",),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Remove Stage User",
        "ipaserver/plugins/stageuser.py:177-185",
        ("delete",),
        "stageuser",
        filters=(ANY,),
        location=f"{STAGED},{{base}}",
        target=f"uid=*,{STAGED},{{base}}",
        attrs=("*",),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Read Stage Users",
        "ipaserver/plugins/stageuser.py:187-195",
        READ,
        "stageuser",
        filters=(ANY,),
        location=f"{STAGED},{{base}}",
        target=f"uid=*,{STAGED},{{base}}",
        attrs=("*",),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Read Preserved Users",
        "ipaserver/plugins/stageuser.py:200-208",
        READ,
        "stageuser",
        filters=(USER_FILTER,),
        location=f"{DELETED},{{base}}",
        target=f"uid=*,{DELETED},{{base}}",
        attrs=("*",),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Modify Preserved Users",
        "ipaserver/plugins/stageuser.py:210-218",
        ("write",),
        "stageuser",
        filters=(USER_FILTER,),
        location=f"{DELETED},{{base}}",
        target=f"uid=*,{DELETED},{{base}}",
        attrs=("*",),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Reset Preserved User password",
        "ipaserver/plugins/stageuser.py:220-230",
        ("read", "search", "write"),
        "stageuser",
        filters=(USER_FILTER,),
        location=f"{DELETED},{{base}}",
        target=f"uid=*,{DELETED},{{base}}",
        attrs=("userpassword", "krbprincipalkey", "krbpasswordexpiration", "krblastpwdchange"),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Remove preserved User",
        "ipaserver/plugins/stageuser.py:232-240",
        ("delete",),
        "stageuser",
        filters=(ANY,),
        location=f"{DELETED},{{base}}",
        target=f"uid=*,{DELETED},{{base}}",
        attrs=("*",),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Modify User RDN",
        "ipaserver/plugins/stageuser.py:246-254",
        ("write",),
        "stageuser",
        filters=(USER_FILTER,),
        location="cn=users,cn=accounts,{base}",
        target="uid=*,cn=users,cn=accounts,{base}",
        attrs=("uid",),
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Preserve User",
        "ipaserver/plugins/stageuser.py:260-268",
        ("moddn",),
        "stageuser",
        filters=("(objectclass=nsContainer)",),
        location="{base}",
        target_from="cn=users,cn=accounts,{base}",
        target_to=f"{DELETED},{{base}}",
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Undelete User",
        "ipaserver/plugins/stageuser.py:271-279",
        ("moddn",),
        "stageuser",
        filters=("(objectclass=nsContainer)",),
        location="{base}",
        target_from=f"{DELETED},{{base}}",
        target_to="cn=users,cn=accounts,{base}",
        privileges=STAGE_ADMINS,
    ),
    ManagedPermission(
        "System: Read Groups",
        "ipaserver/plugins/group.py:228-238",
        READ,
        "group",
        bind="anonymous",
        attrs=_words(
            "businesscategory cn description gidnumber ipaexternalmember ipauniqueid mepmanagedby "
            "o objectclass ou owner seealso ipantsecurityidentifier membermanager"
        ),
    ),
    ManagedPermission(
        "System: Read Group Membership",
        "ipaserver/plugins/group.py:239-246",
        READ,
        "group",
        bind="all",
        attrs=("member", "memberof", "memberuid", "memberuser", "memberhost"),
    ),
    ManagedPermission(
        "System: Add Groups",
        "ipaserver/plugins/group.py:254-260",
        ("add",),
        "group",
        privileges=GROUP_ADMINS,
    ),
    ManagedPermission(
        "System: Modify Group Membership",
        "ipaserver/plugins/group.py:261-275",
        ("write",),
        "group",
        filters=("(objectclass=ipausergroup)", "(!(cn=admins))"),
        attrs=("member",),
        privileges=(*GROUP_ADMINS, "Modify Group membership"),
    ),
    ManagedPermission(
        "System: Modify Groups",
        "ipaserver/plugins/group.py:286-300",
        ("write",),
        "group",
        filters=("(|(objectclass=ipausergroup)(objectclass=posixgroup))", "(!(cn=admins))"),
        attrs=_words("cn description gidnumber ipauniqueid mepmanagedby objectclass membermanager"),
        privileges=GROUP_ADMINS,
    ),
    ManagedPermission(
        "System: Remove Groups",
        "ipaserver/plugins/group.py:301-312",
        ("delete",),
        "group",
        filters=(
            "(|(objectclass=ipausergroup)(objectclass=posixgroup))",
            "(!(|(cn=admins)(cn=trust admins)(cn=default smb group)))",
        ),
        privileges=GROUP_ADMINS,
    ),
    ManagedPermission(
        "System: Read Roles",
        "ipaserver/plugins/role.py:100-109",
        READ,
        "role",
        attrs=_words(
            "businesscategory cn description member memberof o objectclass ou owner seealso "
            "memberuser memberhost"
        ),
        privileges=RBAC_READERS,
    ),
    ManagedPermission(
        "System: Add Roles",
        "ipaserver/plugins/role.py:110-116",
        ("add",),
        "role",
        privileges=DELEGATION,
    ),
    ManagedPermission(
        "System: Modify Role Membership",
        "ipaserver/plugins/role.py:117-124",
        ("write",),
        "role",
        attrs=("member",),
        privileges=DELEGATION,
    ),
    ManagedPermission(
        "System: Modify Roles",
        "ipaserver/plugins/role.py:125-132",
        ("write",),
        "role",
        attrs=("cn", "description"),
        privileges=DELEGATION,
    ),
    ManagedPermission(
        "System: Remove Roles",
        "ipaserver/plugins/role.py:133-139",
        ("delete",),
        "role",
        privileges=DELEGATION,
    ),
    ManagedPermission(
        "System: Read Privileges",
        "ipaserver/plugins/privilege.py:155-164",
        READ,
        "privilege",
        attrs=_words(
            "businesscategory cn description member memberof o objectclass ou owner seealso "
            "memberuser memberhost"
        ),
        privileges=RBAC_READERS,
    ),
    ManagedPermission(
        "System: Add Privileges",
        "ipaserver/plugins/privilege.py:165-168",
        ("add",),
        "privilege",
        privileges=DELEGATION,
    ),
    ManagedPermission(
        "System: Modify Privileges",
        "ipaserver/plugins/privilege.py:169-176",
        ("write",),
        "privilege",
        attrs=("businesscategory", "cn", "description", "o", "ou", "owner", "seealso"),
        privileges=DELEGATION,
    ),
    ManagedPermission(
        "System: Remove Privileges",
        "ipaserver/plugins/privilege.py:177-180",
        ("delete",),
        "privilege",
        privileges=DELEGATION,
    ),
    ManagedPermission(
        "System: Read Permissions",
        "ipaserver/plugins/permission.py:199-211",
        READ,
        "permission",
        attrs=_words(
            "businesscategory cn description ipapermissiontype o objectclass ou owner seealso "
            "ipapermdefaultattr ipapermincludedattr ipapermexcludedattr ipapermbindruletype "
            "ipapermtarget ipapermlocation ipapermright ipapermtargetfilter member memberof "
            "memberuser memberhost"
        ),
        privileges=RBAC_READERS,
    ),
    ManagedPermission(
        "System: Read Subordinate Id Attributes",
        "ipaserver/plugins/subid.py:85-101",
        READ,
        bind="all",
        location=SUBIDS,
        filters=(SUBID_FILTER,),
        attrs=_words(
            "objectclass ipauniqueid description ipaowner ipasubuidnumber ipasubuidcount "
            "ipasubgidnumber ipasubgidcount"
        ),
    ),
    ManagedPermission(
        "System: Manage Subordinate Ids",
        "ipaserver/plugins/subid.py:112-122",
        ("write",),
        location=SUBIDS,
        filters=(SUBID_FILTER,),
        attrs=("description", "ipaowner"),
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Remove Subordinate Ids",
        "ipaserver/plugins/subid.py:123-129",
        ("delete",),
        location=SUBIDS,
        filters=(SUBID_FILTER,),
        privileges=USER_ADMINS,
    ),
    ManagedPermission(
        "System: Modify Privilege Membership",
        "ipaserver/plugins/permission.py:221-228",
        ("write",),
        "permission",
        attrs=("member",),
        privileges=DELEGATION,
    ),
)

# name -> (description, roles that are members): install/share/delegation.ldif,
# install/updates/40-delegation.update and 45-roles.update.
DEFAULT_PRIVILEGES: dict[str, tuple[str, tuple[str, ...]]] = {
    # delegation.ldif:43-49, 45-roles.update:25-26
    "User Administrators": ("User Administrators", ("User Administrator",)),
    # delegation.ldif:51-57, 45-roles.update:28-29
    "Group Administrators": ("Group Administrators", ("User Administrator",)),
    # delegation.ldif:148-154, 45-roles.update:31-37
    "Stage User Administrators": ("Stage User Administrators", ("User Administrator",)),
    # delegation.ldif:156-162
    "Stage User Provisioning": ("Stage User Provisioning", ()),
    # 45-roles.update:2-8
    "Modify Users and Reset passwords": ("Modify Users and Reset passwords", ("helpdesk",)),
    # 45-roles.update:10-16
    "Modify Group membership": ("Modify Group membership", ("helpdesk",)),
    # delegation.ldif:75-81 (its role, Security Architect, is not created: 45-roles.update:74-82)
    "Delegation Administrator": ("Role administration", ()),
    # 40-delegation.update:163-168
    "RBAC Readers": ("Read roles, privileges, permissions and ACIs", ()),
    # 40-delegation.update:205-210
    "PassSync Service": ("PassSync Service", ()),
    # install/updates/73-subid.update:40-46
    "Subordinate ID Administrators": ("Subordinate ID Administrators", ("User Administrator",)),
}

# name -> description: delegation.ldif:32-38, 45-roles.update:18-23.
DEFAULT_ROLES: dict[str, str] = {
    "helpdesk": "Helpdesk",
    "User Administrator": "Responsible for creating Users and Groups",
}


def managed_entry(permission: ManagedPermission, base: str, privilege_dn) -> dict[str, list]:
    """The directory entry FreeIPA's updater writes for a managed permission."""
    location, type_filter = (None, None)
    if permission.kind is not None:
        container, type_filter = PERMISSION_TYPES[permission.kind]
        location = f"{container},{base}"
    if permission.location is not None:
        location = permission.location.format(base=base)
    filters = permission.filters if permission.filters is not None else (type_filter,)
    attrs: dict[str, list] = {
        "objectClass": PERMISSION_CLASSES,
        "cn": [permission.name],
        "ipaPermissionType": ["SYSTEM", "V2", "MANAGED"],
        "ipaPermRight": list(permission.rights),
        "ipaPermBindRuleType": [permission.bind],
        "ipaPermLocation": [location or base],
        "ipaPermTargetFilter": [f.format(base=base) for f in filters if f],
        "ipaPermDefaultAttr": list(permission.attrs),
        "member": [privilege_dn(name) for name in permission.privileges],
    }
    for name, value in (
        ("ipaPermTarget", permission.target),
        ("ipaPermTargetFrom", permission.target_from),
        ("ipaPermTargetTo", permission.target_to),
    ):
        if value:
            attrs[name] = [value.format(base=base)]
    return attrs
