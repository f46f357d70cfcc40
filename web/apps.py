from django.apps import AppConfig


class WebConfig(AppConfig):
    """The web UI: pages over the engine (`onboarding`), which never imports it."""

    name = "web"
    verbose_name = "AccessAdmin web UI"

    def ready(self) -> None:
        from onboarding.directory import directory_preflight
        from onboarding.signals import preflight_requested
        from web import auth  # noqa: F401 - connects the login audit receivers

        preflight_requested.connect(directory_preflight, weak=False)
