from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    """The lifecycle engine: models, plans, runner, tasks, services, systems and commands."""

    name = "onboarding"
    verbose_name = "Onboarding"

    def ready(self) -> None:
        from celery.signals import worker_process_shutdown, worker_shutdown

        from onboarding.runner import step_threads_stop

        worker_shutdown.connect(lambda **_: step_threads_stop(), weak=False)
        worker_process_shutdown.connect(lambda **_: step_threads_stop(), weak=False)
