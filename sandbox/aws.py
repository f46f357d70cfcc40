"""moto server standing in for AWS (EFS, IAM, STS), with the file system and SAML provider.

moto runs through `sandbox.aws_server`, which keeps its state in DIR/aws/state.pickle: a
restarted moto comes back on its old port with every id it handed out. `start` still checks
for the file system and provider against the running server rather than trusting a marker,
so a reset moto gets them again.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sandbox import process

log = logging.getLogger(__name__)

REGION = "eu-west-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
SAML_PROVIDER_NAME = "freeipa"
FILE_SYSTEM_CREATION_TOKEN = "accessadmin-sandbox-home"
START_TIMEOUT_SECONDS = 30
_REPO_ROOT = Path(__file__).resolve().parents[1]
# Where FreeIPA's IdP would live; only written into the metadata, never contacted.
IDP_BASE_URL = "https://ipa.example.test/idp"

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    "AWS_DEFAULT_REGION": REGION,
}


def _folder(state_dir: Path) -> Path:
    return state_dir / "aws"


def _server_file(state_dir: Path) -> Path:
    return _folder(state_dir) / "server.json"


def _port_file(state_dir: Path) -> Path:
    return _folder(state_dir) / "port"


def state_file(state_dir: Path) -> Path:
    """Where moto's state is kept between its runs."""
    return _folder(state_dir) / "state.pickle"


def start(state_dir: Path, endpoints: dict[str, str]) -> dict[str, str]:
    """Start moto (or reuse the running one) and make sure the file system and provider exist."""
    folder = _folder(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    url = _running_url(state_dir)
    if url is None:
        url = _start_moto(state_dir)
    fixtures = ensure_fixtures(url)
    _server_file(state_dir).write_text(json.dumps({"url": url, **fixtures}, indent=2) + "\n")
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        **fixtures,
    }


def stop(state_dir: Path) -> None:
    """Stop moto and wait for it to exit; its state file stays for the next start."""
    process.stop_process(pid_file(state_dir))
    _server_file(state_dir).unlink(missing_ok=True)


def pid_file(state_dir: Path) -> Path:
    """Where moto records its pid while it runs."""
    return _folder(state_dir) / "moto.pid"


def client(endpoints: dict[str, str], service: str) -> Any:
    """A boto3 client for `service` that only ever talks to the sandbox's moto."""
    return boto3.client(
        service,
        endpoint_url=endpoints["AWS_ENDPOINT_URL"],
        region_name=endpoints.get("AWS_REGION", REGION),
        aws_access_key_id=endpoints.get("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        aws_secret_access_key=endpoints.get("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


def ensure_fixtures(url: str) -> dict[str, str]:
    """Create the EFS file system and the `freeipa` SAML provider unless moto already has them."""
    endpoints = {"AWS_ENDPOINT_URL": url}
    return {
        "EFS_FILE_SYSTEM_ID": _ensure_file_system(client(endpoints, "efs")),
        "IAM_SAML_PROVIDER_ARN": _ensure_saml_provider(client(endpoints, "iam")),
    }


def _running_url(state_dir: Path) -> str | None:
    """The URL of a moto we started earlier that still runs and answers, if any."""
    if not process.pid_alive(pid_file(state_dir)):
        return None
    try:
        url = json.loads(_server_file(state_dir).read_text())["url"]
        process.wait_for_http(f"{url}/moto-api/config", timeout=5)
    except (OSError, ValueError, KeyError, TimeoutError):
        log.warning("moto runs but does not answer; restarting it")
        process.stop_process(pid_file(state_dir))
        return None
    return url


def _start_moto(state_dir: Path) -> str:
    folder = _folder(state_dir)
    port = _port(state_dir)
    url = f"http://{process.LOOPBACK}:{port}"
    env = {
        **os.environ,
        **_FAKE_CREDENTIALS,
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        "MOTO_PORT": str(port),
        # moto runs in its own folder, where it may write files; sandbox is imported from here.
        "PYTHONPATH": os.pathsep.join(
            path for path in (str(_REPO_ROOT), os.environ.get("PYTHONPATH", "")) if path
        ),
    }
    started = time.monotonic()
    process.start_process(
        [
            sys.executable,
            "-m",
            "sandbox.aws_server",
            "--port",
            str(port),
            "--state-file",
            state_file(state_dir),
        ],
        log_path=folder / "moto.log",
        pid_path=pid_file(state_dir),
        env=env,
        cwd=folder,
    )
    # The small config page, not data.json: that one dumps every loaded managed policy.
    process.wait_for_http(
        f"{url}/moto-api/config", timeout=START_TIMEOUT_SECONDS, pid_path=pid_file(state_dir)
    )
    log.info("moto answers on %s after %.1f s", url, time.monotonic() - started)
    return url


def _port(state_dir: Path) -> int:
    """The port moto had before (checked free), or a new one on its first start."""
    port_file = _port_file(state_dir)
    port = process.recorded_port(port_file)
    if port is None:
        port = process.free_port()
        port_file.write_text(f"{port}\n")
    else:
        process.require_port_free(port, service="aws", recorded_in=port_file)
    return port


def _ensure_file_system(efs: Any) -> str:
    found = efs.describe_file_systems(CreationToken=FILE_SYSTEM_CREATION_TOKEN)["FileSystems"]
    if found:
        return found[0]["FileSystemId"]
    created = efs.create_file_system(
        CreationToken=FILE_SYSTEM_CREATION_TOKEN,
        PerformanceMode="generalPurpose",
        Encrypted=True,
        Tags=[{"Key": "Name", "Value": "accessadmin-home"}],
    )
    return created["FileSystemId"]


def _ensure_saml_provider(iam: Any) -> str:
    for provider in iam.list_saml_providers()["SAMLProviderList"]:
        if provider["Arn"].endswith(f":saml-provider/{SAML_PROVIDER_NAME}"):
            return provider["Arn"]
    created = iam.create_saml_provider(
        Name=SAML_PROVIDER_NAME, SAMLMetadataDocument=saml_idp_metadata()
    )
    return created["SAMLProviderArn"]


def saml_idp_metadata(base_url: str = IDP_BASE_URL) -> str:
    """SAML 2.0 IdP metadata shaped like FreeIPA's (Ipsilon) with a fresh signing certificate."""
    certificate = _signing_certificate_base64()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    entityID="{base_url}/saml2/metadata">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>{certificate}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:KeyDescriptor use="encryption">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>{certificate}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{base_url}/saml2/SLO/Redirect"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{base_url}/saml2/SSO/Redirect"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="{base_url}/saml2/SSO/POST"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def _signing_certificate_base64() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "EXAMPLE.TEST"),
            x509.NameAttribute(NameOID.COMMON_NAME, "ipa.example.test"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode("ascii")
