"""The lifecycle against the whole local stack: 389-ds + FreeIPA stand-in, moto, JupyterHub."""

from __future__ import annotations

import io
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import ldap
import pytest
from django.conf import settings
from django.core.management import call_command
from python_freeipa import ClientMeta

from accessadmin.celery import app as celery_app
from onboarding.models import LifecycleRun
from onboarding.services import person_onboard, team_set
from onboarding.systems import clients, systems_reset
from onboarding.systems.registry import Clients
from tests.lifecycle.observe import freeipa_password_change_by_form

READ_ONLY_POLICY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
BATCH_POLICY = "arn:aws:iam::aws:policy/AWSBatchFullAccess"

SETTING_NAMES = {
    "FREEIPA_HOST": "FREEIPA_HOST",
    "FREEIPA_CA_FILE": "FREEIPA_CA_FILE",
    "FREEIPA_USERNAME": "FREEIPA_USERNAME",
    "FREEIPA_PASSWORD": "FREEIPA_PASSWORD",
    "AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL",
    "AWS_REGION": "AWS_REGION",
    "EFS_FILE_SYSTEM_ID": "EFS_FILE_SYSTEM_ID",
    "IAM_SAML_PROVIDER_ARN": "IAM_SAML_PROVIDER_ARN",
    "JUPYTERHUB_URL": "JUPYTERHUB_URL",
    "JUPYTERHUB_API_TOKEN": "JUPYTERHUB_API_TOKEN",
    "LDAP_URI": "LDAP_URI",
    "LDAP_BASE_DN": "LDAP_BASE_DN",
}


def freeipa_user_make(stack: dict[str, str]) -> tuple[str, str]:
    """A plain FreeIPA user, as a FreeIPA admin makes one for a service: added by the admin,
    its first (expired) password changed by itself."""
    username = unique("svc-")
    temporary, password = secrets.token_urlsafe(12), secrets.token_urlsafe(18)
    admin = ClientMeta(stack["FREEIPA_HOST"], verify_ssl=stack["FREEIPA_CA_FILE"])
    admin.login(stack["FREEIPA_USERNAME"], stack["FREEIPA_PASSWORD"])
    admin.user_add(
        username, o_givenname="AccessAdmin", o_sn="Service", o_cn="AccessAdmin Service",
        o_userpassword=temporary,
    )  # fmt: skip
    admin.logout()
    assert freeipa_password_change_by_form(stack, username, temporary, password) == "ok"
    return username, password


def freeipa_grant_as_admin(stack: dict[str, str], username: str, folder: Path) -> str:
    """`manage.py freeipa_grant USERNAME` with the stack's FreeIPA admin; what it printed."""
    admin_password = folder / "admin-password"
    admin_password.write_text(stack["FREEIPA_PASSWORD"])
    out = io.StringIO()
    try:
        call_command(
            "freeipa_grant", username, "--admin", stack["FREEIPA_USERNAME"],
            "--admin-password-file", str(admin_password), stdout=out,
        )  # fmt: skip
    finally:
        admin_password.unlink()
    return out.getvalue()


@pytest.fixture(scope="session")
def stack_configured(stack: dict[str, str], tmp_path_factory) -> Iterator[dict[str, str]]:
    """Point settings (this process) and the environment (workers we start) at the stack, with
    AccessAdmin logging in to FreeIPA as a least-privilege service account, not as admin."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.items():
            patch.setenv(name, value)
        for endpoint, setting in SETTING_NAMES.items():
            patch.setattr(settings, setting, stack[endpoint], raising=False)
        base = stack["LDAP_BASE_DN"]
        patch.setattr(settings, "LDAP_USER_BASE_DN", f"cn=users,cn=accounts,{base}")
        systems_reset()
        username, password = freeipa_user_make(stack)
        freeipa_grant_as_admin(stack, username, tmp_path_factory.mktemp("freeipa"))
        for name, value in (("FREEIPA_USERNAME", username), ("FREEIPA_PASSWORD", password)):
            patch.setenv(name, value)
            patch.setattr(settings, name, value)
        systems_reset()
        yield stack
    systems_reset()


@pytest.fixture
def eager(stack_configured) -> Iterator[None]:
    """Tasks run in this process as they are queued, so a test can inject faults into steps."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before


@pytest.fixture
def ipa(stack_configured) -> Clients:
    return clients()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def username() -> str:
    return unique("u")


def hub_group_setting(name: str) -> dict:
    """The team's hub group, where JupyterHub is enabled (a test may run with fewer systems, and a
    setting of a system that is not enabled is refused)."""
    if "jupyterhub" not in settings.ACCESSADMIN_SYSTEMS:
        return {}
    return {"jupyterhub": {"group": name}}


@pytest.fixture
def team(stack_configured, db):
    name = unique("team-")
    created, _ = team_set(
        name=name,
        group=name,
        policy_arns=[READ_ONLY_POLICY],
        system_settings=hub_group_setting(name),
        actor="test",
    )
    return created


@pytest.fixture
def other_team(stack_configured, db):
    name = unique("team-")
    created, _ = team_set(
        name=name,
        group=name,
        policy_arns=[BATCH_POLICY],
        actor="test",
        system_settings=hub_group_setting(name),
    )
    return created


def ldap_can_bind(stack: dict[str, str], username: str, password: str) -> bool:
    connection = ldap.initialize(stack["LDAP_URI"])
    dn = f"uid={username},cn=users,cn=accounts,{stack['LDAP_BASE_DN']}"
    try:
        connection.simple_bind_s(dn, password)
        return True
    except (ldap.INVALID_CREDENTIALS, ldap.UNWILLING_TO_PERFORM, ldap.NO_SUCH_OBJECT):
        return False
    finally:
        connection.unbind_s()


@pytest.fixture
def lifecycle_worker_env(worker_env, stack_configured) -> dict[str, str]:
    return {
        **worker_env,
        **stack_configured,
        # Short enough that a killed worker's run is taken over within the test's patience.
        "LIFECYCLE_STALE_SECONDS": "5",
        "LIFECYCLE_HEARTBEAT_SECONDS": "1",
        "CELERY_VISIBILITY_TIMEOUT": "8",
        "LIFECYCLE_RETRY_BASE_SECONDS": "1",
    }


@pytest.fixture
def lifecycle_worker(lifecycle_worker_env, tmp_path):
    from tests.conftest import Worker

    worker = Worker(lifecycle_worker_env, tmp_path / "worker.log").start(purge=True)
    try:
        yield worker
    finally:
        worker.stop()


def onboard(username: str, team) -> LifecycleRun:
    """Ask for an onboarding as an admin would; with `eager`, it has run when this returns."""
    run = person_onboard(
        username=username,
        first_name="Ada",
        last_name="Example",
        email=f"{username}@example.test",
        team=team,
        actor="admin",
    )
    run.refresh_from_db()
    return run
