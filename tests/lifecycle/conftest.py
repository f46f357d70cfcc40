"""The lifecycle against the whole local stack: 389-ds + FreeIPA stand-in, moto, JupyterHub."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import ldap
import pytest
from django.conf import settings

from accessadmin.celery import app as celery_app
from onboarding.models import LifecycleRun
from onboarding.services import person_onboard, team_set
from onboarding.systems import clients, systems_reset
from onboarding.systems.registry import Clients

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


@pytest.fixture(scope="session")
def stack_configured(stack: dict[str, str]) -> Iterator[dict[str, str]]:
    """Point settings (this process) and the environment (workers we start) at the stack."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.items():
            patch.setenv(name, value)
        for endpoint, setting in SETTING_NAMES.items():
            patch.setattr(settings, setting, stack[endpoint], raising=False)
        base = stack["LDAP_BASE_DN"]
        patch.setattr(settings, "LDAP_USER_BASE_DN", f"cn=users,cn=accounts,{base}")
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


@pytest.fixture
def team(stack_configured, db):
    name = unique("team-")
    created, _ = team_set(
        name=name,
        group=name,
        policy_arns=[READ_ONLY_POLICY],
        jupyterhub_group=name,
        actor="test",
    )
    return created


@pytest.fixture
def other_team(stack_configured, db):
    name = unique("team-")
    created, _ = team_set(
        name=name, group=name, policy_arns=[BATCH_POLICY], jupyterhub_group=name, actor="test"
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
