"""The Kubernetes manifests (deploy/kubernetes), rendered with `kubectl kustomize` as a deployer
renders them, checked against the Kubernetes API's schemas, against docker-compose.yml (the same
commands and health checks, the same secret files) and against the settings; web's probe is also
sent, as the kubelet would send it, to gunicorn started with the rendered command and settings."""

import http.client
import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.test_production_start import CA_FILE, VENV_BIN, Service, free_port

KUSTOMIZATION = REPO_ROOT / "deploy" / "kubernetes"
# The newest Kubernetes whose API schemas kubernetes-validate (pinned in pyproject.toml) ships.
KUBERNETES_VERSION = "1.37.0"
APP_WORKLOADS = {"accessadmin-web", "accessadmin-worker", "accessadmin-beat", "accessadmin-migrate"}


def render(folder: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` renders the manifests")
    result = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return render(KUSTOMIZATION)


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return render(KUSTOMIZATION / "base")


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def one(documents: list[dict], kind: str, name: str) -> dict:
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def pod_specs(documents: list[dict]) -> dict[str, dict]:
    """Each workload's pod spec, by workload name."""
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in documents
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    }


def pod_labels(documents: list[dict], workload: str) -> dict[str, str]:
    (found,) = [
        d for d in documents if d["metadata"]["name"] == workload and "template" in d["spec"]
    ]
    return found["spec"]["template"]["metadata"]["labels"]


def containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def main_container(documents: list[dict], workload: str) -> dict:
    (container,) = pod_specs(documents)[workload]["containers"]
    return container


def config_map_data(documents: list[dict], container: dict) -> dict[str, str]:
    """What the container reads through envFrom, later sources over earlier ones, as the kubelet
    merges them (names carry kustomize's hash suffix, so they are followed, not guessed)."""
    data = {}
    for source in container.get("envFrom", []):
        data.update(one(documents, "ConfigMap", source["configMapRef"]["name"])["data"])
    return data


def web_host(documents: list[dict]) -> str:
    settings = config_map_data(documents, main_container(documents, "accessadmin-web"))
    return settings["ALLOWED_HOSTS"].split(",")[0].strip()


def compose_healthcheck(service: str) -> list[str]:
    """A compose health check as the command line it runs, `$$` (compose's literal `$`) undone."""
    kind, *rest = compose()["services"][service]["healthcheck"]["test"]
    rest = [part.replace("$$", "$") for part in rest]
    return rest if kind == "CMD" else ["sh", "-c", rest[0]]


def test_the_top_level_kustomization_renders_the_example_overlay(rendered):
    assert rendered == render(KUSTOMIZATION / "overlays" / "example")
    assert set(pod_specs(rendered)) == APP_WORKLOADS


@pytest.mark.parametrize("folder", ["", "base"])
def test_every_rendered_document_is_valid_for_the_kubernetes_api(folder):
    errors = []
    for document in render(KUSTOMIZATION / folder):
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(
                f"{document['kind']}/{document['metadata']['name']} {path}: {error.message}"
            )
    assert not errors, "\n\n".join(errors)


def test_every_container_asks_for_and_is_limited_in_cpu_and_memory(rendered):
    for workload, pod in pod_specs(rendered).items():
        for container in containers(pod):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert set(resources.get(bound, {})) >= {"cpu", "memory"}, (
                    workload,
                    container["name"],
                    bound,
                )


def test_every_container_runs_unprivileged_on_a_read_only_root_with_tmp_writable(rendered):
    for workload, pod in pod_specs(rendered).items():
        pod_security = pod["securityContext"]
        assert pod_security["runAsNonRoot"] is True, workload
        # The image's user is a name; the kubelet can check runAsNonRoot only against a number.
        assert pod_security["runAsUser"] > 0, workload
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault", workload
        assert pod["automountServiceAccountToken"] is False, workload
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in containers(pod):
            where = (workload, container["name"])
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], where


def test_one_image_for_every_container_which_the_overlay_names(rendered, base):
    for documents, expected in ((base, {"accessadmin"}), (rendered, None)):
        images = {
            container["image"]
            for pod in pod_specs(documents).values()
            for container in containers(pod)
        }
        assert len(images) == 1, images
        if expected:
            assert images == expected
    overlay = yaml.safe_load(
        (KUSTOMIZATION / "overlays" / "example" / "kustomization.yaml").read_text()
    )
    (image,) = overlay["images"]
    assert image["name"] == "accessadmin"
    assert images == {f"{image['newName']}:{image['newTag']}"}


def test_web_worker_and_beat_run_the_commands_of_compose(rendered):
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        command = main_container(rendered, f"accessadmin-{name}")["command"]
        assert command == services[name]["command"], name
    migrate = main_container(rendered, "accessadmin-migrate")["command"]
    assert migrate == ["python", "manage.py", "migrate", "--noinput"]
    assert "python manage.py migrate --noinput" in (REPO_ROOT / "deploy" / "migrate.sh").read_text()


def test_worker_and_beat_are_checked_alive_as_compose_checks_them(rendered):
    for name in ("worker", "beat"):
        probe = main_container(rendered, f"accessadmin-{name}")["livenessProbe"]
        assert probe["exec"]["command"] == compose_healthcheck(name), name
        assert probe["timeoutSeconds"] > 10, "the ping itself waits 10 s"


def test_beat_is_not_ready_while_the_engine_is_unhealthy(rendered):
    beat = main_container(rendered, "accessadmin-beat")
    assert beat["readinessProbe"]["exec"]["command"] == ["python", "manage.py", "health"]


def test_web_probes_ask_healthz_with_the_host_the_app_serves(rendered):
    web = main_container(rendered, "accessadmin-web")
    (port,) = web["ports"]
    bind = web["command"][web["command"].index("--bind") + 1]
    assert int(bind.rsplit(":", 1)[1]) == port["containerPort"]
    host = web_host(rendered)
    for kind in ("readinessProbe", "livenessProbe"):
        probe = web[kind]["httpGet"]
        assert probe["path"] == "/healthz?scope=web", kind
        assert probe["port"] in (port["name"], port["containerPort"]), kind
        headers = {header["name"]: header["value"] for header in probe["httpHeaders"]}
        assert headers["Host"] == host, kind
        assert headers["X-Forwarded-Proto"] == "https", kind
    assert not host.startswith((".", "*")), "a probe needs a real name, not a wildcard"


def test_the_ingress_serves_the_probes_host_over_tls_to_the_web_service(rendered):
    ingress = one(rendered, "Ingress", "accessadmin")
    host = web_host(rendered)
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host
    assert any(host in tls["hosts"] and tls["secretName"] for tls in ingress["spec"]["tls"])
    (path,) = rule["http"]["paths"]
    service = one(rendered, "Service", path["backend"]["service"]["name"])
    labels = pod_labels(rendered, "accessadmin-web")
    assert service["spec"]["selector"].items() <= labels.items()


def test_exactly_one_beat_even_during_a_rollout(rendered):
    beat = one(rendered, "Deployment", "accessadmin-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert not [d for d in rendered if d["kind"] == "HorizontalPodAutoscaler"]


def test_web_keeps_a_pod_through_voluntary_disruptions(rendered):
    web = one(rendered, "Deployment", "accessadmin-web")
    (budget,) = [d for d in rendered if d["kind"] == "PodDisruptionBudget"]
    labels = pod_labels(rendered, "accessadmin-web")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= budget["spec"]["minAvailable"] < web["spec"]["replicas"]


def test_no_secret_value_is_rendered(rendered, base):
    for documents in (base, rendered):
        for document in documents:
            if document["kind"] == "Secret":
                assert not document.get("data") and not document.get("stringData"), document
    generators = [
        yaml.safe_load(path.read_text()).get("secretGenerator")
        for path in KUSTOMIZATION.rglob("kustomization.yaml")
    ]
    assert not any(generators), "secrets are created by hand (docs/kubernetes.md)"


def test_secret_files_and_paths_are_those_of_compose_and_mounted_where_named(rendered):
    app_environment = compose()["x-app"]["environment"]
    for workload, pod in pod_specs(rendered).items():
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in containers(pod):
            where = (workload, container["name"])
            settings = config_map_data(rendered, container)
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            for name, value in app_environment.items():
                if workload == "accessadmin-migrate" and name == "DATABASE_PASSWORD_FILE":
                    value = compose()["services"]["migrate"]["environment"][name]
                assert settings[name] == value, (*where, name)
                path = PurePosixPath(value)
                if name == "AUDIT_HEAD_FILE" and container["name"] == "wait-for-migrations":
                    continue  # it writes no audit event
                assert str(path.parent) in mounts, (*where, name, "not mounted")
                if str(path.parent) == "/run/secrets":
                    volume = volumes[mounts[str(path.parent)]]
                    assert path.name in secret_keys(volume), (*where, name)


def secret_keys(volume: dict) -> dict[str, str]:
    """The files a secret volume holds, file name -> Secret. A Secret given without items gives
    all its keys: the deployer creates `accessadmin` with the secrets compose gives web, worker
    and beat, under the same names (docs/kubernetes.md)."""
    created_keys = {"accessadmin": compose()["x-app"]["secrets"]}
    sources = [volume["secret"]] if "secret" in volume else volume["projected"]["sources"]
    files = {}
    for source in sources:
        secret = source.get("secret", source)
        name = secret.get("secretName", secret.get("name"))
        keys = [item["path"] for item in secret.get("items", [])] or created_keys[name]
        files.update(dict.fromkeys(keys, name))
    return files


def test_only_migrate_gets_the_database_owners_password(rendered):
    for workload, pod in pod_specs(rendered).items():
        named = {
            secret
            for volume in pod["volumes"]
            if "secret" in volume or "projected" in volume
            for file, secret in secret_keys(volume).items()
            if file == "postgres_password" and secret == "accessadmin-db-owner"
        }
        assert bool(named) == (workload == "accessadmin-migrate"), workload
    migrate = config_map_data(rendered, main_container(rendered, "accessadmin-migrate"))
    web = config_map_data(rendered, main_container(rendered, "accessadmin-web"))
    owner = compose()["services"]["postgres"]["environment"]["POSTGRES_USER"]
    assert urlsplit(migrate["DATABASE_URL"]).username == owner
    assert urlsplit(web["DATABASE_URL"]).username == web["DATABASE_APP_ROLE"] != owner


def test_every_setting_in_the_config_maps_is_one_settings_py_reads(rendered):
    settings_source = (REPO_ROOT / "accessadmin" / "settings.py").read_text()
    for document in rendered:
        if document["kind"] != "ConfigMap":
            continue
        for name, value in document["data"].items():
            if name.endswith("_FILE") and re.search(
                rf'env\.secret\(\s*"{name[:-5]}"', settings_source
            ):
                continue
            assert f'"{name}"' in settings_source, f"{name} is not read by settings.py"
            assert urlsplit(value).password is None, f"{name} carries a password"


def test_network_policies_deny_by_default_and_let_only_the_ingress_controller_reach_web(rendered):
    policies = [d["spec"] for d in rendered if d["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["podSelector"] == {} and not p.get("ingress")]
    assert any("Ingress" in p["policyTypes"] for p in deny), "no default deny for ingress"
    assert any("Egress" in p["policyTypes"] for p in deny), "no default deny for egress"
    opened = [p for p in policies if p.get("ingress")]
    (web_ingress,) = opened
    labels = pod_labels(rendered, "accessadmin-web")
    assert web_ingress["podSelector"]["matchLabels"].items() <= labels.items()
    for rule in web_ingress["ingress"]:
        assert rule["from"] and all(set(peer) == {"namespaceSelector"} for peer in rule["from"])
        assert [port["port"] for port in rule["ports"]] == [8000]


def allowed_egress_ports(rendered: list[dict], labels: dict[str, str]) -> set[tuple[str, int]]:
    ports = set()
    for document in rendered:
        if document["kind"] != "NetworkPolicy":
            continue
        spec = document["spec"]
        if "Egress" not in spec["policyTypes"]:
            continue
        if spec["podSelector"].get("matchLabels", {}).items() <= labels.items():
            for rule in spec.get("egress", []):
                ports |= {(port["protocol"], port["port"]) for port in rule["ports"]}
    return ports


def test_egress_allows_dns_and_the_ports_of_every_backend_the_settings_name(rendered):
    default_ports = {"postgres": 5432, "redis": 6379, "ldap": 389, "ldaps": 636, "https": 443}
    for workload, pod in pod_specs(rendered).items():
        allowed = allowed_egress_ports(rendered, pod_labels(rendered, workload))
        assert {("UDP", 53), ("TCP", 53)} <= allowed, workload
        settings = config_map_data(rendered, pod["containers"][0])
        urls = [
            settings[name]
            for name in ("DATABASE_URL", "CELERY_BROKER_URL", "LDAP_URI", "JUPYTERHUB_URL")
        ]
        urls.append(f"https://{settings['FREEIPA_HOST']}")
        urls.append(f"https://sts.{settings['AWS_REGION']}.amazonaws.com")
        for url in urls:
            parts = urlsplit(url)
            port = parts.port or default_ports[parts.scheme]
            assert ("TCP", port) in allowed, (workload, url)


# Running web as the manifests say ------------------------------------------------------------


def local_environment(rendered: list[dict], container: dict, folder: Path, backends: dict) -> dict:
    """The container's environment, run here: each mounted file is under `folder` instead (a
    random value for each secret, the system's CA bundle for the IPA CA), PostgreSQL and Redis are
    the test run's (Redis has no password here: REDIS_PASSWORD_FILE is left out), and
    DATABASE_APP_ROLE is empty (no such role exists here)."""
    env = {
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(config_map_data(rendered, container))
    for name, value in list(env.items()):
        if value.startswith("/run/secrets/"):
            secret = folder / "secrets" / PurePosixPath(value).name
            secret.parent.mkdir(exist_ok=True)
            secret.write_text(f"{secrets.token_urlsafe(60)}\n")
            env[name] = str(secret)
        elif value == "/etc/ipa/ca.crt":
            env[name] = CA_FILE
        elif value.startswith("/var/lib/accessadmin/"):
            env[name] = str(folder / PurePosixPath(value).name)
    del env["REDIS_PASSWORD_FILE"]
    if urlsplit(backends["DATABASE_URL"]).password:
        del env["DATABASE_PASSWORD_FILE"]
    env.update(backends, DATABASE_APP_ROLE="")
    return env


def probe_request(port: int, probe: dict) -> http.client.HTTPResponse:
    """The request the kubelet makes for an httpGet probe: its path, its headers and no others."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {header["name"]: header["value"] for header in probe["httpGet"]["httpHeaders"]}
    connection.request("GET", probe["httpGet"]["path"], headers=headers)
    return connection.getresponse()


# The database pytest-django made and migrated, which web, a process of its own, then reads.
@pytest.mark.django_db
def test_web_as_rendered_passes_its_probes_under_production_settings(
    rendered, worker_env, tmp_path
):
    pod = pod_specs(rendered)["accessadmin-web"]
    web = main_container(rendered, "accessadmin-web")
    backends = {
        "DATABASE_URL": worker_env["DATABASE_URL"],
        "CELERY_BROKER_URL": worker_env["CELERY_BROKER_URL"],
    }
    env = local_environment(rendered, web, tmp_path, backends)
    assert env["ACCESSADMIN_ENV"] == "production"

    (wait,) = pod["initContainers"]
    check = wait["command"][-1].removeprefix("until ").split(";")[0]
    result = subprocess.run(
        check.split(), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{check} fails on a migrated database:\n{result.stderr}"

    port = free_port()
    command = list(web["command"])
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    service = Service(command, env, tmp_path / "web.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = probe_request(port, web["readinessProbe"])
                break
            except OSError:
                assert service.process.poll() is None, f"web died:\n{service.tail()}"
                assert time.monotonic() < deadline, f"web never answered:\n{service.tail()}"
                time.sleep(0.5)
        # Exactly 200: the kubelet would also pass a redirect, which asks nothing of the app.
        assert answer.status == 200, f"{answer.status} {answer.read()!r}\n{service.tail()}"
        assert json.loads(answer.read())["status"] == "ok"
        assert probe_request(port, web["livenessProbe"]).status == 200
        stranger = {"path": "/healthz", "httpHeaders": [{"name": "Host", "value": "x.invalid"}]}
        assert probe_request(port, {"httpGet": stranger}).status == 400, "any Host is served"
    finally:
        service.stop()

    # The rendered settings pass Django's deployment checks and the project's own (LDAP and the
    # hub over TLS only).
    result = subprocess.run(
        ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
