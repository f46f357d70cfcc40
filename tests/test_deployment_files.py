"""docker-compose cannot run here (no Docker engine), so its file is checked by reading it."""

import re
import tomllib

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
