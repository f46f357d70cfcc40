"""A bad deployment stops at start-up with a message naming the variable at fault."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

GOOD_PRODUCTION = {
    "ACCESSADMIN_ENV": "production",
    "DEBUG": "false",
    "SECRET_KEY": "x" * 64,
    "ALLOWED_HOSTS": "accessadmin.example.test",
    "DATABASE_URL": "postgres://accessadmin@db.example.test:5432/accessadmin",
    "CELERY_BROKER_URL": "redis://redis.example.test:6379/0",
    "FREEIPA_HOST": "ipa.example.test",
    "FREEIPA_PASSWORD": "service-password",
    "EFS_FILE_SYSTEM_ID": "fs-0123456789abcdef0",
    "IAM_SAML_PROVIDER_ARN": "arn:aws:iam::123456789012:saml-provider/freeipa",
    "JUPYTERHUB_URL": "https://hub.example.test",
    "JUPYTERHUB_API_TOKEN": "hub-token",
    "LDAP_URI": "ldaps://ipa.example.test",
    "AUDIT_KEY": "a" * 40,
    "AUDIT_HEAD_FILE": "/var/lib/accessadmin/audit/head",
}


def load_settings(overrides: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {**os.environ, **GOOD_PRODUCTION}
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('settings loaded')"],
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "accessadmin.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_complete_production_environment_loads():
    result = load_settings({})
    assert result.returncode == 0, result.stderr
    assert "settings loaded" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY must be set."),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 50 characters long."),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false, not 'maybe'."),
        ({"DEBUG": "true"}, "DEBUG must be false when ACCESSADMIN_ENV is production."),
        ({"ACCESSADMIN_ENV": "staging"}, "ACCESSADMIN_ENV must be one of local, test, production"),
        ({"DATABASE_URL": None}, "DATABASE_URL must be set when ACCESSADMIN_ENV is production."),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL must start with postgres://"),
        ({"CELERY_BROKER_URL": "amqp://mq"}, "CELERY_BROKER_URL must start with redis://"),
        ({"CELERY_TASK_TIME_LIMIT": "ten"}, "CELERY_TASK_TIME_LIMIT must be a whole number"),
        ({"CELERY_TASK_TIME_LIMIT": "3"}, "CELERY_TASK_TIME_LIMIT must be at least 10, not 3."),
        ({"FREEIPA_HOST": None}, "FREEIPA_HOST must be set."),
        ({"FREEIPA_PASSWORD": None}, "FREEIPA_PASSWORD must be set."),
        ({"EFS_FILE_SYSTEM_ID": None}, "EFS_FILE_SYSTEM_ID must be set."),
        ({"JUPYTERHUB_URL": "hub.example.test"}, "JUPYTERHUB_URL must start with http://"),
        ({"JUPYTERHUB_API_TOKEN": None}, "JUPYTERHUB_API_TOKEN must be set."),
        ({"LDAP_URI": None}, "LDAP_URI must be set when ACCESSADMIN_ENV is production."),
    ],
)
def test_bad_setting_stops_start_up_naming_the_variable(overrides, message):
    result = load_settings(overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_secret_is_read_from_its_file(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("k" * 60 + "\n")
    result = load_settings({"SECRET_KEY": None, "SECRET_KEY_FILE": str(secret_file)})
    assert result.returncode == 0, result.stderr


def test_unreadable_secret_file_is_named(tmp_path):
    missing = tmp_path / "absent"
    result = load_settings({"SECRET_KEY": None, "SECRET_KEY_FILE": str(missing)})
    assert result.returncode != 0
    assert f"SECRET_KEY_FILE names '{missing}', which cannot be read" in result.stderr


def test_secret_and_its_file_together_are_refused(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("k" * 60)
    result = load_settings({"SECRET_KEY_FILE": str(secret_file)})
    assert result.returncode != 0
    assert "Set SECRET_KEY or SECRET_KEY_FILE, not both." in result.stderr


def test_local_run_needs_no_configuration():
    result = load_settings({name: None for name in GOOD_PRODUCTION})
    assert result.returncode == 0, result.stderr
