"""Deployment checks (`manage.py check --deploy`): no plaintext connection carries a password.

Registered by accessadmin/settings.py importing this module, so they run wherever the settings do.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def plaintext_connections_check(app_configs, **kwargs) -> list[Error]:
    errors = []
    uri = getattr(settings, "LDAP_URI", "") or ""
    if uri.startswith("ldap://") and not getattr(settings, "AUTH_LDAP_START_TLS", False):
        errors.append(
            Error(
                f"LDAP_URI is {uri!r}, plaintext LDAP: staff passwords and the bind password "
                "would cross the network in clear.",
                hint="Use an ldaps:// LDAP_URI, or set LDAP_START_TLS=true.",
                id="accessadmin.E001",
            )
        )
    hub = getattr(settings, "JUPYTERHUB_URL", "") or ""
    if getattr(settings, "JUPYTERHUB_ENABLED", False) and hub.startswith("http://"):
        errors.append(
            Error(
                f"JUPYTERHUB_URL is {hub!r}, plain HTTP: the hub's API token would cross the "
                "network in clear.",
                hint="Use an https:// JUPYTERHUB_URL.",
                id="accessadmin.E002",
            )
        )
    return errors
