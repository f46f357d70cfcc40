"""A bad deployment stops at start-up with a message naming the variable at fault."""

import ast
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
        ({"BULK_MAX_ROWS": "0"}, "BULK_MAX_ROWS must be at least 1, not 0."),
        ({"EMAIL_USE_TLS": "maybe"}, "EMAIL_USE_TLS must be"),
        ({"EMAIL_HOST": "smtp.example.test"}, "SITE_URL must be set for the links"),
        ({"SITE_URL": "accessadmin.example.test"}, "SITE_URL must start with http://"),
        ({"NOTIFY_CHAT_URL": "hooks.example.test/x"}, "NOTIFY_CHAT_URL must start with"),
        # Its old name is still read, and checked the same way.
        ({"NOTIFY_WEBHOOK_URL": "hooks.example.test/x"}, "NOTIFY_CHAT_URL must start with"),
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


def settings_value(overrides: dict[str, str | None], expression: str) -> str:
    env = {**os.environ, **GOOD_PRODUCTION}
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    code = (
        f"import django; django.setup(); from django.conf import settings as s; print({expression})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "accessadmin.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_database_password_is_read_from_its_file(tmp_path):
    secret = tmp_path / "app_db_password"
    secret.write_text("s3cret/p@ss\n")
    value = settings_value(
        {"DATABASE_PASSWORD_FILE": str(secret)}, "s.DATABASES['default']['PASSWORD']"
    )
    assert value == "s3cret/p@ss"


def test_smtp_password_is_read_from_its_file(tmp_path):
    secret = tmp_path / "smtp_password"
    secret.write_text("mail-p@ss\n")
    value = settings_value(
        {"EMAIL_HOST_PASSWORD_FILE": str(secret), "EMAIL_HOST": "smtp.example.test",
         "SITE_URL": "https://accessadmin.example.test"},
        "(s.EMAIL_HOST_PASSWORD, s.EMAIL_HOST, s.EMAIL_USE_TLS)",
    )  # fmt: skip
    assert value == "('mail-p@ss', 'smtp.example.test', True)"


def test_database_password_in_the_url_and_in_a_file_is_refused(tmp_path):
    secret = tmp_path / "app_db_password"
    secret.write_text("other")
    result = load_settings(
        {
            "DATABASE_URL": "postgres://app:inline@db.example.test:5432/accessadmin",
            "DATABASE_PASSWORD_FILE": str(secret),
        }
    )
    assert result.returncode != 0
    assert "DATABASE_URL or DATABASE_PASSWORD(_FILE), not both" in result.stderr


def test_redis_password_goes_into_the_broker_and_result_urls(tmp_path):
    secret = tmp_path / "redis_password"
    secret.write_text("p@ss/word\n")
    value = settings_value(
        {"REDIS_PASSWORD_FILE": str(secret), "CELERY_RESULT_BACKEND": None},
        "s.CELERY_BROKER_URL, s.CELERY_RESULT_BACKEND",
    )
    url = "redis://:p%40ss%2Fword@redis.example.test:6379/0"
    assert value.split() == [url, url]


def test_redis_password_twice_is_refused(tmp_path):
    secret = tmp_path / "redis_password"
    secret.write_text("pw")
    result = load_settings(
        {
            "CELERY_BROKER_URL": "redis://:inline@redis.example.test:6379/0",
            "REDIS_PASSWORD_FILE": str(secret),
        }
    )
    assert result.returncode != 0
    assert "CELERY_BROKER_URL carries a password and REDIS_PASSWORD(_FILE) is set" in (
        result.stderr
    )


def test_ldap_ca_file_is_in_the_connection_options_with_a_new_context_last():
    import ldap

    value = settings_value(
        {"LDAP_CA_FILE": "/etc/ipa/ca.crt"}, "list(s.AUTH_LDAP_CONNECTION_OPTIONS.items())"
    )
    options = dict(ast.literal_eval(value))
    assert options[ldap.OPT_X_TLS_CACERTFILE] == "/etc/ipa/ca.crt"
    assert options[ldap.OPT_X_TLS_REQUIRE_CERT] == ldap.OPT_X_TLS_DEMAND
    assert list(options)[-1] == ldap.OPT_X_TLS_NEWCTX


def test_no_proxy_is_trusted_unless_said():
    assert settings_value({}, "s.TRUSTED_PROXY_COUNT") == "0"
    assert settings_value({"TRUSTED_PROXY_COUNT": "1"}, "s.TRUSTED_PROXY_COUNT") == "1"
    assert load_settings({"TRUSTED_PROXY_COUNT": "-1"}).returncode != 0


def deploy_check(overrides: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            **GOOD_PRODUCTION,
            "SECRET_KEY": "k-" + "9" * 62 + "xYz!@#",
            **overrides,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"LDAP_URI": "ldap://ipa.example.test"}, ["accessadmin.E001", "LDAP_URI"]),
        ({"JUPYTERHUB_URL": "http://hub.example.test"}, ["accessadmin.E002", "JUPYTERHUB_URL"]),
    ],
)
def test_deploy_check_fails_on_a_plaintext_connection_naming_the_setting(overrides, names):
    result = deploy_check(overrides)
    assert result.returncode != 0
    for name in names:
        assert name in result.stderr, result.stderr


def test_deploy_check_takes_ldap_with_start_tls():
    result = deploy_check({"LDAP_URI": "ldap://ipa.example.test", "LDAP_START_TLS": "true"})
    assert result.returncode == 0, result.stdout + result.stderr


# Whatever a local stack put in this process's environment is left out.
POSTGRES_ON = {
    "ACCESSADMIN_SYSTEMS": "freeipa,efs,iam,jupyterhub,postgres",
    "POSTGRES_ACCESS_URL": None,
    "POSTGRES_ACCESS_PASSWORD": None,
}


def test_production_with_postgres_enabled_needs_its_access_url():
    result = load_settings(POSTGRES_ON)

    assert result.returncode != 0
    assert "POSTGRES_ACCESS_URL must be set" in result.stderr
    assert load_settings({}).returncode == 0


def test_postgres_access_password_is_read_from_its_file(tmp_path):
    secret = tmp_path / "postgres_access"
    secret.write_text("adm1n/p@ss\n")
    value = settings_value(
        {**POSTGRES_ON, "POSTGRES_ACCESS_URL": "postgres://accessadmin@db.example.test/platform",
         "POSTGRES_ACCESS_PASSWORD_FILE": str(secret)},
        "s.POSTGRES_ACCESS_PASSWORD",
    )  # fmt: skip

    assert value == "adm1n/p@ss"


def test_a_postgres_access_url_of_another_scheme_is_refused():
    result = load_settings({**POSTGRES_ON, "POSTGRES_ACCESS_URL": "mysql://a@db/platform"})

    assert "POSTGRES_ACCESS_URL must start with postgres://" in result.stderr
