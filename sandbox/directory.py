"""389 Directory Server holding FreeIPA's tree, living entirely under STATE_DIR/directory/.

The instance is created once with `dscreate from-file` against a private PREFIX (an edited
copy of lib389's defaults.inf that points every path into the state folder), then started
directly with `ns-slapd`, which is much faster than going through lib389 again.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import ldap
import ldap.modlist

from sandbox import process

log = logging.getLogger(__name__)

SUFFIX = "dc=example,dc=test"
MANAGER_DN = "cn=Directory Manager"
INSTANCE = "sandbox"
DS_USER = "dirsrv"

# FreeIPA's layout (ipalib/constants.py), parents first.
TREE = (
    "cn=accounts",
    "cn=users,cn=accounts",
    "cn=groups,cn=accounts",
    "cn=provisioning",
    "cn=accounts,cn=provisioning",
    "cn=staged users,cn=accounts,cn=provisioning",
    "cn=deleted users,cn=accounts,cn=provisioning",
    "cn=otp",
)

# Attributes nobody but the Directory Manager may read, whatever else the schema defines.
_SECRET_ATTRIBUTES = (
    "userPassword",
    "ipatokenOTPkey",
    "ipaNTHash",
    "sambaNTPassword",
    "sambaLMPassword",
    "krbPwdHistory",
)
_SECRET_PATTERN = re.compile(r"^krb\w*key", re.IGNORECASE)
READ_ACI_NAME = "sandbox: authenticated users read all but secrets"
# FreeIPA's "Admin can manage any entry" (install/updates/20-aci.update:67): admins may do
# anything but touch these; the stand-in names only those its schema knows.
_ADMIN_EXCLUDED_ATTRIBUTES = [
    "userPassword",
    "krbPrincipalKey",
    "sambaLMPassword",
    "sambaNTPassword",
    "passwordHistory",
    "krbMKey",
    "krbPrincipalName",
    "krbCanonicalName",
    "krbPwdHistory",
    "krbLastPwdChange",
    "krbExtraData",
    "krbLastSuccessfulAuth",
    "krbLastFailedAuth",
    "ipaUniqueId",
    "memberOf",
    "enrolledBy",
    "ipaNTHash",
    "ipaProtectedOperation",
]
# Every permission's ACI carries it (ipaserver/plugins/permission.py make_aci).
FREEIPA_ACI_MARK = b'acl "permission:'
_ADMINS_DN = f"cn=admins,cn=groups,cn=accounts,{SUFFIX}"
_ADMIN_ACI_NAME = "Admin can manage any entry"
# FreeIPA gives nobody a general read of the Managed Entries definitions: only the permission
# "System: Read UPG Definition" (ipaserver/plugins/user.py:262-271) reads the UPG Definition,
# which user_add reads as the caller (ipaserver/plugins/ldap2.py:252-284 has_upg).
MANAGED_ENTRIES = "cn=Managed Entries,cn=etc"
_SELF_PASSWORD_NAME = "sandbox: users change their own password"
_SELF_PASSWORD_ACI = (
    f'(targetattr = "userPassword")(version 3.0; acl "{_SELF_PASSWORD_NAME}"; '
    'allow (write) userdn = "ldap:///self";)'
)

# (entry, line in lib389's template, what it becomes)
_TEMPLATE_EDITS = (
    (
        "cn=config",
        "nsslapd-port: %ds_port%",
        "nsslapd-port: %ds_port%\nnsslapd-listenhost: 127.0.0.1",
    ),
    (
        "cn=MemberOf Plugin,cn=plugins,cn=config",
        "nsslapd-pluginenabled: off",
        "nsslapd-pluginenabled: on",
    ),
    # Its CPU benchmark costs a third of a second per start; hashes use PBKDF2-SHA512.
    (
        "cn=PBKDF2_SHA256,cn=Password Storage Schemes,cn=plugins,cn=config",
        "nsslapd-pluginenabled: on",
        "nsslapd-pluginenabled: off",
    ),
    # A small fixed cache instead of a quarter of the machine's memory.
    (
        "cn=config,cn=ldbm database,cn=plugins,cn=config",
        "nsslapd-backend-implement: %db_lib%",
        "nsslapd-backend-implement: %db_lib%\nnsslapd-cache-autosize: 0\n"
        "nsslapd-dbcachesize: 16777216",
    ),
)
_SYSTEM_DEFAULTS = Path("/usr/share/dirsrv/inf/defaults.inf")
_SYSTEM_TEMPLATE = Path("/usr/share/dirsrv/data/template-dse.ldif")
_SYSTEM_CONFIG = Path("/etc/dirsrv")
_EXTRA_SCHEMA = Path(__file__).resolve().parent / "freeipa" / "schema"
_NS_SLAPD = "/usr/sbin/ns-slapd"
_DSCREATE = "/usr/sbin/dscreate"
_START_TIMEOUT = 30.0
_PID_FILE_GRACE = 5.0
# sun_path is 108 bytes on Linux; dscreate talks to the new server over this LDAPI socket.
_MAX_SOCKET_PATH = 107


class DirectoryError(RuntimeError):
    """The directory could not be created or started; the message carries the log tail."""


def start(state_dir: Path, endpoints: dict[str, str]) -> dict[str, str]:
    """Start (creating it on first use) the directory and return its LDAP_* endpoints."""
    layout = _Layout(state_dir / "directory")
    if not layout.created_marker.exists():
        _create(layout)
    elif not process.pid_alive(layout.pid_file):
        # Its port is written into the instance's dse.ldif: it can only come back there.
        process.require_port_free(layout.port, service="directory", recorded_in=layout.port_file)
        _launch(layout)
        _apply_access_rules(layout, keep_others=True)
    else:
        _wait_until_answering(layout)
    return layout.endpoints()


def stop(state_dir: Path) -> None:
    """Stop the directory's ns-slapd, if it runs, and wait until it has exited."""
    layout = _Layout(state_dir / "directory")
    process.stop_process(layout.pid_file, timeout=15)


def pid_file(state_dir: Path) -> Path:
    """Where ns-slapd records its pid while the directory of state_dir runs."""
    return _Layout(state_dir / "directory").pid_file


class _Layout:
    """Where everything of one instance lives; the folder doubles as lib389's PREFIX."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.password_file = self.root / "manager-password"
        self.port_file = self.root / "port"
        self.created_marker = self.root / "created"
        self.setup_log = self.root / "setup.log"
        self.inf_file = self.root / "setup.inf"
        self.config_dir = self.root / "etc" / "dirsrv" / f"slapd-{INSTANCE}"
        self.run_dir = self.root / "run" / "dirsrv"
        self.pid_file = self.run_dir / f"slapd-{INSTANCE}.pid"
        self.log_dir = self.root / "var" / "log" / "dirsrv" / f"slapd-{INSTANCE}"
        self.error_log = self.log_dir / "errors"
        self.ldapi_socket = self.root / "run" / f"slapd-{INSTANCE}.socket"

    @property
    def port(self) -> int:
        return int(self.port_file.read_text())

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def uri(self) -> str:
        return f"ldap://{process.LOOPBACK}:{self.port}"

    def endpoints(self) -> dict[str, str]:
        return {
            "LDAP_URI": self.uri,
            "LDAP_BASE_DN": SUFFIX,
            "LDAP_BIND_DN": MANAGER_DN,
            "LDAP_BIND_PASSWORD": self.password,
        }

    def paths(self) -> dict[str, str]:
        """lib389's path settings, all redirected below the instance folder."""
        root = str(self.root)
        instance = "slapd-{instance_name}"
        return {
            "with_systemd": "0",
            "data_dir": f"{root}/share",
            "tmp_dir": f"{root}/tmp",
            "sysconf_dir": f"{root}/etc",
            "initconfig_dir": f"{root}/etc/default",
            "config_dir": f"{root}/etc/dirsrv/{instance}",
            "local_state_dir": f"{root}/var",
            "run_dir": f"{root}/run/dirsrv",
            "ldapi": f"{root}/run/{instance}.socket",
            "pid_file": f"{root}/run/dirsrv/{instance}.pid",
            "inst_dir": f"{root}/lib/dirsrv/{instance}",
            "tmpfiles_d": f"{root}/etc/tmpfiles.d",
            "schema_dir": f"{root}/etc/dirsrv/{instance}/schema",
            "cert_dir": f"{root}/etc/dirsrv/{instance}",
            "lock_dir": f"{root}/run/lock/dirsrv/{instance}",
            "log_dir": f"{root}/var/log/dirsrv/{instance}",
            "access_log": f"{root}/var/log/dirsrv/{instance}/access",
            "audit_log": f"{root}/var/log/dirsrv/{instance}/audit",
            "error_log": f"{root}/var/log/dirsrv/{instance}/errors",
            "security_log": f"{root}/var/log/dirsrv/{instance}/security",
            "db_dir": f"{root}/var/lib/dirsrv/{instance}/db",
            # The database environment stays here too instead of /dev/shm.
            "db_home_dir": f"{root}/var/lib/dirsrv/{instance}/db",
            "backup_dir": f"{root}/var/lib/dirsrv/{instance}/bak",
            "ldif_dir": f"{root}/var/lib/dirsrv/{instance}/ldif",
        }


def _create(layout: _Layout) -> None:
    started = time.monotonic()
    if layout.root.exists():
        # A half-made instance from an interrupted creation: start over.
        process.stop_process(layout.pid_file)
        shutil.rmtree(layout.root)
    layout.root.parent.mkdir(parents=True, exist_ok=True)
    _require_reachable_by_server(layout.root.parent)
    if len(str(layout.ldapi_socket)) > _MAX_SOCKET_PATH:
        raise DirectoryError(
            f"state dir path too long: {layout.ldapi_socket} must fit in {_MAX_SOCKET_PATH} bytes"
        )
    _prepare_prefix(layout)
    layout.port_file.write_text(f"{process.free_port()}\n")
    layout.password_file.touch(mode=0o600)
    layout.password_file.write_text(secrets.token_urlsafe(24) + "\n")
    _write_inf(layout)
    _run_dscreate(layout)
    _launch(layout)
    _load_tree(layout)
    _apply_access_rules(layout)
    layout.created_marker.write_text("")
    log.info("created 389-ds instance in %s (%.1f s)", layout.root, time.monotonic() - started)


def _require_reachable_by_server(folder: Path) -> None:
    """ns-slapd runs as dirsrv, so every folder above the instance must let it pass."""
    user = pwd.getpwnam(DS_USER)
    for path in (folder, *folder.parents):
        info = path.stat()
        if info.st_uid == user.pw_uid or info.st_mode & 0o001:
            continue
        if info.st_gid == user.pw_gid and info.st_mode & 0o010:
            continue
        raise DirectoryError(
            f"{path} (mode {info.st_mode & 0o777:o}) blocks user {DS_USER}, which ns-slapd "
            f"runs as; put the state dir where every parent folder is world-searchable"
        )


def _prepare_prefix(layout: _Layout) -> None:
    paths = layout.paths()
    folders = [
        layout.root,
        layout.root / "share" / "dirsrv" / "inf",
        layout.root / "share" / "dirsrv" / "data",
        layout.root / "etc" / "dirsrv",
        layout.root / "etc" / "default",
        layout.root / "etc" / "tmpfiles.d",
        layout.root / "lib" / "dirsrv",
        layout.root / "run" / "lock" / "dirsrv",
        layout.root / "var" / "log" / "dirsrv",
        layout.root / "var" / "lib" / "dirsrv",
        Path(paths["tmp_dir"]),
        layout.run_dir,
    ]
    # dscreate would make missing parents root-owned 0770, which ns-slapd cannot enter.
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for part in (folder, *folder.parents):
            if part == layout.root.parent:
                break
            part.chmod(0o755)
    user = pwd.getpwnam(DS_USER)
    group = grp.getgrnam(DS_USER)
    for owned in (layout.run_dir, Path(paths["tmp_dir"])):
        os.chown(owned, user.pw_uid, group.gr_gid)

    defaults = _SYSTEM_DEFAULTS.read_text()
    for key, value in paths.items():
        defaults, count = re.subn(
            rf"^{key}\s*=.*$", f"{key} = {value}", defaults, count=1, flags=re.MULTILINE
        )
        if count != 1:
            raise DirectoryError(f"{_SYSTEM_DEFAULTS} has no '{key}' setting to redirect")
    (layout.root / "share" / "dirsrv" / "inf" / "defaults.inf").write_text(defaults)

    (layout.root / "share" / "dirsrv" / "data" / "template-dse.ldif").write_text(
        _instance_template()
    )
    for name in ("schema", "config"):
        shutil.copytree(_SYSTEM_CONFIG / name, layout.root / "etc" / "dirsrv" / name)
    # dscreate copies etc/dirsrv/schema into the instance, so the server loads these on first start.
    _copy_extra_schema(layout.root / "etc" / "dirsrv" / "schema")


def _instance_template() -> str:
    """lib389's dse.ldif template, edited so the first start already has the final settings.

    The server thus never listens beyond loopback and needs no restart to apply them.
    """
    template = _SYSTEM_TEMPLATE.read_text()
    for entry, setting, replacement in _TEMPLATE_EDITS:
        pattern = rf"^(dn: {re.escape(entry)}\n(?:.+\n)*?){re.escape(setting)}$"
        template, count = re.subn(
            pattern, rf"\1{replacement}", template, count=1, flags=re.MULTILINE
        )
        if count != 1:
            raise DirectoryError(f"{_SYSTEM_TEMPLATE} has no '{setting}' in {entry}")
    return template


def _copy_extra_schema(schema_dir: Path) -> None:
    if not _EXTRA_SCHEMA.is_dir():
        return
    for ldif in sorted(_EXTRA_SCHEMA.glob("*.ldif")):
        content = _read_settled(ldif)
        if not content.strip():
            # ns-slapd refuses to start on an empty schema file.
            log.warning("skipping empty schema file %s", ldif)
            continue
        target = schema_dir / ldif.name
        target.write_bytes(content)
        target.chmod(0o644)


def _read_settled(path: Path, attempts: int = 10) -> bytes:
    """The file's bytes, waiting briefly while a concurrent writer has it truncated."""
    for _ in range(attempts):
        content = path.read_bytes()
        if content.strip():
            return content
        time.sleep(0.1)
    return content


def _write_inf(layout: _Layout) -> None:
    layout.inf_file.touch(mode=0o600)
    layout.inf_file.write_text(
        "[general]\n"
        "full_machine_name = localhost\n"
        "selinux = False\n"
        "systemd = False\n"
        "strict_host_checking = False\n"
        # Left stopped: ns-slapd is started directly, which saves lib389's restart.
        "start = False\n"
        "[slapd]\n"
        f"instance_name = {INSTANCE}\n"
        f"port = {layout.port}\n"
        f"secure_port = {process.free_port()}\n"
        "self_sign_cert = False\n"
        # LMDB stops in a fraction of a second; Berkeley DB takes two, once per creation and down.
        "db_lib = mdb\n"
        f"root_dn = {MANAGER_DN}\n"
        f"root_password = {layout.password}\n"
        "[backend-userroot]\n"
        f"suffix = {SUFFIX}\n"
        "create_suffix_entry = True\n"
        "sample_entries = no\n"
    )


def _run_dscreate(layout: _Layout) -> None:
    env = {**os.environ, "PREFIX": str(layout.root)}
    with open(layout.setup_log, "ab") as output:
        result = subprocess.run(
            [_DSCREATE, "from-file", str(layout.inf_file)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=layout.root,
            check=False,
        )
    layout.inf_file.unlink()
    if result.returncode != 0:
        raise DirectoryError(
            f"dscreate failed (exit {result.returncode}):\n{_tail(layout.setup_log)}"
            f"\n{_tail(layout.error_log)}"
        )


def _launch(layout: _Layout) -> None:
    _copy_extra_schema(layout.config_dir / "schema")
    layout.pid_file.unlink(missing_ok=True)
    with open(layout.setup_log, "ab") as output:
        # ns-slapd forks into the background once its listeners are set up.
        result = subprocess.run(
            [_NS_SLAPD, "-D", str(layout.config_dir), "-i", str(layout.pid_file)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            check=False,
        )
    if result.returncode != 0:
        raise DirectoryError(
            f"ns-slapd exited with {result.returncode}:\n{_tail(layout.error_log)}"
        )
    _wait_until_answering(layout)


def _wait_until_answering(layout: _Layout) -> None:
    began = time.monotonic()
    while True:
        try:
            _connect(layout).unbind_s()
            return
        except ldap.INVALID_CREDENTIALS as error:
            raise DirectoryError(
                f"{layout.uri} refuses the Directory Manager password: another server holds "
                f"the port, or {layout.password_file} was changed"
            ) from error
        except ldap.LDAPError as error:
            if time.monotonic() - began > _START_TIMEOUT:
                raise DirectoryError(
                    f"ns-slapd did not answer on {layout.uri} within {_START_TIMEOUT:g} s "
                    f"({error}):\n{_tail(layout.error_log)}"
                ) from error
        # The daemon writes its pid file only once forked, so give it a moment first.
        if not process.pid_alive(layout.pid_file) and (
            layout.pid_file.exists() or time.monotonic() - began > _PID_FILE_GRACE
        ):
            raise DirectoryError(f"ns-slapd is not running:\n{_tail(layout.error_log)}")
        time.sleep(0.05)


def _connect(layout: _Layout) -> ldap.ldapobject.LDAPObject:
    connection = ldap.initialize(layout.uri)
    connection.set_option(ldap.OPT_NETWORK_TIMEOUT, 2)
    connection.set_option(ldap.OPT_TIMEOUT, 10)
    connection.simple_bind_s(MANAGER_DN, layout.password)
    return connection


def _load_tree(layout: _Layout) -> None:
    connection = _connect(layout)
    try:
        for rdns in TREE:
            name = rdns.split(",", 1)[0].split("=", 1)[1]
            entry = {"objectClass": [b"top", b"nsContainer"], "cn": [name.encode()]}
            connection.add_s(f"{rdns},{SUFFIX}", ldap.modlist.addModlist(entry))
    finally:
        connection.unbind_s()


def _apply_access_rules(layout: _Layout, keep_others: bool = False) -> None:
    """Install the suffix ACIs, hiding every secret attribute the current schema defines.

    389-ds rejects ACIs naming attribute types it does not know, and extra schema can
    arrive between starts, so the list is worked out from the live schema each time.
    """
    connection = _connect(layout)
    try:
        known = _attribute_names(connection)
        secrets_known = sorted(_secret_attributes(known), key=str.lower)
        admin_excluded = [name for name in _ADMIN_EXCLUDED_ATTRIBUTES if name.lower() in known]
        admin_aci = (
            f'(targetattr != "{" || ".join(admin_excluded)}")(version 3.0; '
            f'acl "{_ADMIN_ACI_NAME}"; allow (all) groupdn = "ldap:///{_ADMINS_DN}";)'
        )
        read_aci = (
            f'(targetattr != "{" || ".join(secrets_known)}")'
            f'(target != "ldap:///{MANAGED_ENTRIES},{SUFFIX}")(version 3.0; '
            f'acl "{READ_ACI_NAME}"; allow (read, search, compare) userdn = "ldap:///all";)'
        )
        own = [_SELF_PASSWORD_ACI.encode(), admin_aci.encode()]
        # On creation, replacing drops the anonymous read ACI dscreate puts on the suffix entry;
        # later, the ACIs others wrote there (the FreeIPA stand-in's) stay.
        others = _others_acis(connection) if keep_others else []
        # Once the FreeIPA stand-in has written FreeIPA's ACIs, they alone say who reads what.
        if not any(FREEIPA_ACI_MARK in text for text in others):
            own.insert(0, read_aci.encode())
        connection.modify_s(SUFFIX, [(ldap.MOD_REPLACE, "aci", others + own)])
    finally:
        connection.unbind_s()


def _others_acis(connection: ldap.ldapobject.LDAPObject) -> list[bytes]:
    [(_, attrs)] = connection.search_s(SUFFIX, ldap.SCOPE_BASE, attrlist=["aci"])
    own_names = (READ_ACI_NAME, _SELF_PASSWORD_NAME, _ADMIN_ACI_NAME)
    return [
        text
        for text in attrs.get("aci", [])
        if not any(f'acl "{name}"'.encode() in text for name in own_names)
    ]


def _attribute_names(connection: ldap.ldapobject.LDAPObject) -> dict[str, str]:
    """Every attribute type of the live schema: lower-cased name -> its own spelling."""
    entries = connection.search_s("cn=schema", ldap.SCOPE_BASE, attrlist=["attributeTypes"])
    names: dict[str, str] = {}
    for definition in entries[0][1]["attributeTypes"]:
        match = re.search(rb"NAME\s+(?:'([^']+)'|\(\s*'([^']+)')", definition)
        if match:
            name = (match.group(1) or match.group(2)).decode()
            names[name.lower()] = name
    return names


def _secret_attributes(known: dict[str, str]) -> set[str]:
    wanted = {name.lower() for name in _SECRET_ATTRIBUTES}
    return {
        name for name in known.values() if name.lower() in wanted or _SECRET_PATTERN.match(name)
    }


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not written)"
