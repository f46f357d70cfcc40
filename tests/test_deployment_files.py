"""docker-compose cannot run here (no Docker engine), so its file is checked by reading it."""

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
    assert set(services) == {"postgres", "redis", *APP_SERVICES}
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
    assert "SECRET_KEY" in names
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
