from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    """The lifecycle engine: models, plans, runner, tasks, services, systems and commands."""

    name = "onboarding"
    verbose_name = "Onboarding"

    def ready(self) -> None:
        from celery.signals import (
            celeryd_after_setup,
            worker_process_shutdown,
            worker_ready,
            worker_shutdown,
        )

        from onboarding.notifications import findings_found_notify, run_finished_notify
        from onboarding.runner import step_threads_stop
        from onboarding.runner.limits import watchdog_install
        from onboarding.services.reconcile import repaired_findings_settle
        from onboarding.signals import findings_found, run_finished, run_started
        from onboarding.webhooks import run_finished_webhooks, run_started_webhooks

        celeryd_after_setup.connect(
            lambda instance, **_: watchdog_install(instance.pool_cls), weak=False
        )
        worker_ready.connect(_runs_release_on_start, weak=False)
        worker_shutdown.connect(lambda **_: step_threads_stop(), weak=False)
        worker_process_shutdown.connect(lambda **_: step_threads_stop(), weak=False)
        run_finished.connect(run_finished_notify, weak=False)
        run_finished.connect(run_finished_webhooks, weak=False)
        run_finished.connect(repaired_findings_settle, weak=False)
        run_started.connect(run_started_webhooks, weak=False)
        findings_found.connect(findings_found_notify, weak=False)


def _runs_release_on_start(sender, **_) -> None:
    """A restarted worker hands on at once what its previous life held when it died."""
    from django.db import connection

    from onboarding.runner import run_dispatch, runs_release

    try:
        for run_id, rolling_back in runs_release(sender.hostname):
            run_dispatch(run_id, rolling_back=rolling_back)
    finally:
        connection.close()
