"""docker-compose cannot run here (no Docker engine), so its file is checked by reading it."""

import json
import re
import tomllib
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import yaml

from tests.conftest import REPO_ROOT

APP_SERVICES = {"migrate", "web", "worker", "beat"}


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def test_compose_names_the_services_the_readme_promises():
    services = compose()["services"]
    assert set(services) == {"proxy", "postgres", "redis", "backup", *APP_SERVICES}
    readme = (REPO_ROOT / "README.md").read_text()
    for name in services:
        assert f"`{name}`" in readme, f"README does not describe the {name} service"


def test_app_services_share_the_image_and_env_file_and_wait_for_their_backends():
    services = compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == "."
        assert service["env_file"] == "accessadmin.env"
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "accessadmin", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "accessadmin", "beat"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_example_env_file_names_only_settings_that_exist():
    settings_source = (REPO_ROOT / "accessadmin" / "settings.py").read_text()
    example = (REPO_ROOT / "deploy" / "accessadmin.env.example").read_text()
    names = re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE)
    assert {"ALLOWED_HOSTS", "DATABASE_URL", "TRUSTED_PROXY_COUNT"} <= set(names)
    for name in names:
        assert f'"{name}"' in settings_source, f"{name} is not read by settings.py"


def test_the_stand_ins_stay_out_of_the_package_and_the_image():
    packaged = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert not any(name.startswith("sandbox") for name in packaged["packages"]["find"]["include"])
    copied = [
        line.split()[1]
        for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert "sandbox" not in copied
    assert {"accessadmin", "onboarding", "web"} <= set(copied)


def example_settings() -> dict[str, str]:
    example = (REPO_ROOT / "deploy" / "accessadmin.env.example").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(.*)$", example, flags=re.MULTILINE))


def test_migrate_connects_as_the_owner_and_the_app_services_as_the_restricted_role():
    services = compose()["services"]
    owner = services["postgres"]["environment"]["POSTGRES_USER"]
    app_role = example_settings()["DATABASE_APP_ROLE"]
    assert app_role != owner
    assert urlsplit(example_settings()["DATABASE_URL"]).username == app_role
    assert urlsplit(services["migrate"]["environment"]["DATABASE_URL"]).username == owner
    for name in ("web", "worker", "beat"):
        assert "DATABASE_URL" not in services[name]["environment"]
    migrate_script = services["migrate"]["command"][-1]
    assert f"./deploy/migrate.sh:{migrate_script}:ro" in services["migrate"]["volumes"]
    assert "manage.py migrate" in (REPO_ROOT / "deploy" / "migrate.sh").read_text()


def test_postgres_creates_the_app_role_owning_nothing_and_never_granted_truncate():
    postgres = compose()["services"]["postgres"]
    script = "deploy/postgres/10-app-role.sql"
    assert f"./{script}:/docker-entrypoint-initdb.d/10-app-role.sql:ro" in postgres["volumes"]
    sql = (REPO_ROOT / script).read_text()
    app_role = example_settings()["DATABASE_APP_ROLE"]
    assert f"CREATE ROLE {app_role} LOGIN PASSWORD :'app_password';" in sql
    assert "app_db_password" in postgres["secrets"]
    grants = [line for line in sql.splitlines() if line.strip().startswith("GRANT")]
    assert grants and not any("TRUNCATE" in line or "GRANT ALL" in line for line in grants)
    assert "OWNER" not in sql and "SUPERUSER" not in sql


def test_app_services_share_the_audit_head_volume_and_read_the_audit_key_from_a_secret():
    config = compose()
    assert "audit-head" in config["volumes"]
    assert "audit_key" in config["secrets"]
    for name in APP_SERVICES:
        service = config["services"][name]
        head_dir = PurePosixPath(service["environment"]["AUDIT_HEAD_FILE"]).parent
        assert f"audit-head:{head_dir}" in service["volumes"], name
        assert service["environment"]["AUDIT_KEY_FILE"] == "/run/secrets/audit_key", name
        assert "audit_key" in service["secrets"], name
    assert "AUDIT_KEY" not in example_settings(), "compose gives the key as a file"


# Every secret the app reads, as a compose secret of that name given as NAME_FILE.
APP_SECRETS = {
    "SECRET_KEY": "secret_key",
    "DATABASE_PASSWORD": "app_db_password",
    "REDIS_PASSWORD": "redis_password",
    "FREEIPA_PASSWORD": "freeipa_password",
    "JUPYTERHUB_API_TOKEN": "jupyterhub_api_token",
    "LDAP_BIND_PASSWORD": "ldap_bind_password",
    "METRICS_TOKEN": "metrics_token",
    "AUDIT_KEY": "audit_key",
}


def test_every_secret_is_a_file_and_none_is_in_the_env_file_or_a_url():
    config = compose()
    settings_source = (REPO_ROOT / "accessadmin" / "settings.py").read_text()
    example = example_settings()
    for name, secret in APP_SECRETS.items():
        assert re.search(rf'env\.secret\(\s*"{name}"', settings_source), name
        assert config["secrets"][secret]["file"] == f"./secrets/{secret}"
        assert name not in example and f"{name}_FILE" not in example, name
        for service in ("web", "worker", "beat"):
            service_config = config["services"][service]
            assert service_config["environment"][f"{name}_FILE"] == f"/run/secrets/{secret}"
            assert secret in service_config["secrets"], (service, secret)
    migrate = config["services"]["migrate"]
    assert migrate["environment"]["DATABASE_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "postgres_password" in migrate["secrets"]
    for setting in ("DATABASE_URL", "CELERY_BROKER_URL"):
        assert urlsplit(example[setting]).password is None, setting
    assert urlsplit(migrate["environment"]["DATABASE_URL"]).password is None


def test_redis_asks_for_the_password_of_its_secret():
    redis = compose()["services"]["redis"]
    assert "redis_password" in redis["secrets"]
    command = " ".join(redis["command"])
    assert "--requirepass" in command and "/run/secrets/redis_password" in command
    assert "--appendonly yes" in command
    assert "docker-entrypoint.sh redis-server" in command, "must still drop root"
    assert "REDISCLI_AUTH" in redis["healthcheck"]["test"][1]


def test_the_ipa_ca_is_mounted_where_freeipa_and_ldap_look_for_it():
    config = compose()
    for name in APP_SERVICES:
        service = config["services"][name]
        ca = service["environment"]["FREEIPA_CA_FILE"]
        assert service["environment"]["LDAP_CA_FILE"] == ca
        assert f"./certs/ipa-ca.crt:{ca}:ro" in service["volumes"], name


def test_only_the_tls_proxy_publishes_ports_and_the_app_trusts_exactly_it():
    config = compose()
    services = config["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert {port.split(":")[0] for port in services["proxy"]["ports"]} == {"80", "443"}
    assert services["proxy"]["image"].startswith("caddy:")
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    caddyfile = (REPO_ROOT / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy web:8000" in caddyfile
    directives = [
        line.strip() for line in caddyfile.splitlines() if not line.strip().startswith("#")
    ]
    assert not any(line.startswith("trusted_proxies") for line in directives), (
        "Caddy must not believe a client's X-Forwarded-*"
    )
    assert "{$ALLOWED_HOSTS}" in caddyfile
    # The proxy shares a network with web only; the databases are out of its reach.
    proxy_networks = set(services["proxy"]["networks"])
    for name in ("postgres", "redis"):
        assert not proxy_networks & set(services[name]["networks"]), name
    assert proxy_networks & set(services["web"]["networks"])
    example = example_settings()
    assert example["SECURE_PROXY_SSL_HEADER"] == "true"
    assert example["TRUSTED_PROXY_COUNT"] == "1"


def test_web_worker_and_beat_have_health_checks_that_ask_the_process_itself():
    services = compose()["services"]
    web = services["web"]["healthcheck"]["test"]
    assert web == ["CMD", "python", "-m", "accessadmin.probe", "--port", "8000"]
    worker = services["worker"]["healthcheck"]["test"]
    assert worker[0] == "CMD-SHELL"
    assert "inspect ping --destination celery@$$HOSTNAME --timeout" in worker[1]
    beat = services["beat"]["healthcheck"]["test"]
    assert "--enable-remote-control" in services["beat"]["command"]
    assert "inspect ping --destination celerybeat@$$HOSTNAME --timeout" in beat[1]
    for name in ("web", "worker", "beat"):
        assert services[name]["healthcheck"]["retries"] >= 3, name


def test_the_database_is_backed_up():
    backup = compose()["services"]["backup"]
    assert backup["command"] == ["sh", "/deploy/backup.sh"]
    assert "./deploy/backup.sh:/deploy/backup.sh:ro" in backup["volumes"]
    assert "postgres_password" in backup["secrets"]
    assert "pg_dump" in (REPO_ROOT / "deploy" / "backup.sh").read_text()
    assert "accessadmin-*.dump" in backup["healthcheck"]["test"][1]


def dockerfile_stages() -> dict[str, list[str]]:
    """The Dockerfile's instructions by stage name (continuation lines joined)."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            current = line.split()[-1] if " AS " in line else line.split()[1]
            stages[current] = []
        stages[current].append(line)
    return stages


def locked_pins(lock: str) -> dict[str, str]:
    text = (REPO_ROOT / lock).read_text()
    return {name.lower(): version for name, version in re.findall(r"^([\w.-]+)==(\S+)", text, re.M)}


def test_the_image_is_built_in_stages_and_runs_without_compilers_as_a_non_root_user():
    stages = dockerfile_stages()
    assert list(stages) == ["", "build", "runtime"]
    base = stages[""][0]
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11-slim-\w+@sha256:[0-9a-f]{64}", base)
    runtime = " ".join(stages["runtime"])
    for tool in ("gcc", "-dev ", "pip install"):
        assert tool not in runtime, tool
    assert "COPY --from=build /opt/venv /opt/venv" in stages["runtime"]
    assert "--require-hashes" in " ".join(stages["build"])
    assert "COPY requirements.lock /tmp/requirements.lock" in stages["build"]
    user = [line for line in stages["runtime"] if line.startswith("USER ")]
    assert user == ["USER 10001"]
    healthcheck = next(line for line in stages["runtime"] if line.startswith("HEALTHCHECK "))
    assert healthcheck.endswith('CMD ["python", "-m", "accessadmin.probe", "--port", "8000"]')
    # The code is in the image once: copied to /app, not also installed into site-packages.
    assert not any(line.startswith("RUN pip install") for line in stages["runtime"])


def test_the_image_and_compose_run_the_same_web_command():
    stages = dockerfile_stages()
    cmd = next(line for line in stages["runtime"] if line.startswith("CMD "))
    web = compose()["services"]["web"]["command"]
    assert json.loads(cmd.removeprefix("CMD ")) == web


def test_the_lock_files_hash_every_package_and_hold_pyproject_pins():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]

    def pins(requirements: list[str]) -> dict[str, str]:
        found = {}
        for requirement in requirements:
            name, version = re.fullmatch(r"([\w.-]+)(?:\[[\w,]+\])?==(\S+)", requirement).groups()
            found[name.lower().replace("_", "-")] = version
        return found

    runtime, dev = locked_pins("requirements.lock"), locked_pins("requirements-dev.lock")
    assert pins(project["dependencies"]).items() <= runtime.items()
    assert pins(project["optional-dependencies"]["dev"]).items() <= dev.items()
    # The image's lock carries none of the stand-ins or test tools.
    assert not {"moto", "jupyterhub", "pytest", "playwright", "ruff"} & set(runtime)
    for lock in ("requirements.lock", "requirements-dev.lock"):
        entries = re.split(r"\n(?=[\w.-]+==)", (REPO_ROOT / lock).read_text().strip())
        unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
        assert unhashed == [], f"{lock}: {unhashed}"
