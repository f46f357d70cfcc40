"""The code keeps its shape: each system's client library is imported in that system's package
only; the engine imports neither the API nor the web UI, the API never imports the web UI, and the
web UI uses the API only for its page of tokens; nothing shipped imports the local stand-ins;
no module grows past 600 lines."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("accessadmin", "onboarding", "web", "api", "scim")
SYSTEMS = ROOT / "onboarding" / "systems"

# Client libraries, and where each may be imported.
CLIENT_LIBRARIES = {
    "python_freeipa": [SYSTEMS / "freeipa"],
    "boto3": [SYSTEMS / "_aws.py"],  # the AWS plumbing the efs and iam packages share
    "botocore": [SYSTEMS / "_aws.py", SYSTEMS / "efs", SYSTEMS / "iam"],
    "requests": [SYSTEMS / "freeipa", SYSTEMS / "jupyterhub"],
    # Also AccessAdmin's own database driver, which migrations use for its privileges.
    "psycopg": [SYSTEMS / "postgres", ROOT / "onboarding" / "migrations"],
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def shipped_files() -> list[Path]:
    return [path for package in SHIPPED for path in sorted((ROOT / package).rglob("*.py"))]


def inside(path: Path, places: list[Path]) -> bool:
    return any(path == place or place in path.parents for place in places)


@pytest.mark.parametrize("library", sorted(CLIENT_LIBRARIES))
def test_a_client_library_is_imported_only_in_its_systems_package(library):
    offenders = [
        str(path.relative_to(ROOT))
        for path in shipped_files()
        if any(name.split(".")[0] == library for name in imports_of(path))
        and not inside(path, CLIENT_LIBRARIES[library])
    ]
    assert offenders == []


def test_a_systems_package_is_used_only_through_the_registry():
    system_names = [path.name for path in SYSTEMS.iterdir() if (path / "__init__.py").exists()]
    offenders = []
    for path in shipped_files():
        for name in imports_of(path):
            parts = name.split(".")
            into = parts[2] if parts[:2] == ["onboarding", "systems"] and len(parts) > 2 else ""
            if into in system_names and not inside(path, [SYSTEMS / into]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_engine_never_imports_the_web_ui():
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "onboarding").rglob("*.py"))
        if any(name == "web" or name.startswith("web.") for name in imports_of(path))
    ]
    assert offenders == []
    assert not (ROOT / "onboarding" / "views.py").exists()


def imported_from(package: str, into: str) -> list[str]:
    """Modules of `package` imported by the files of `into`, with where."""
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / into).rglob("*.py"))
        for name in sorted(imports_of(path))
        if name == package or name.startswith(f"{package}.")
    ]


def test_the_engine_never_imports_the_api_and_the_api_never_imports_the_web_ui():
    assert imported_from("api", "onboarding") == []
    assert imported_from("web", "api") == []
    assert imported_from("web", "scim") == []
    assert imported_from("scim", "onboarding") == imported_from("scim", "api") == []


# The web UI's page of API tokens makes and revokes them through the API's token services.
WEB_USES_OF_THE_API = {"api.models", "api.selectors", "api.services"}


def test_the_web_ui_uses_the_api_only_for_its_tokens():
    uses = {line.rsplit(" ", 1)[1] for line in imported_from("api", "web")}
    assert uses <= WEB_USES_OF_THE_API
    tokens_page = "web/views/tokens.py imports"
    assert all(
        line.startswith(tokens_page) or "token_forms" in line
        for line in imported_from("api", "web")
    )


def test_nothing_shipped_imports_the_stand_ins():
    offenders = [
        str(path.relative_to(ROOT))
        for path in shipped_files()
        if any(name.split(".")[0] == "sandbox" for name in imports_of(path))
    ]
    assert offenders == []


MAX_MODULE_LINES = 600


def test_no_module_of_the_engine_the_web_ui_or_the_api_grows_past_600_lines():
    too_long = {
        str(path.relative_to(ROOT)): lines
        for package in ("onboarding", "web", "api", "scim")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}
