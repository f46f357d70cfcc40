"""manage.py health: whether the engine does its work on time, as /healthz says it; exits 1 when
it does not (beat's readiness probe on Kubernetes)."""

import json

from django.core.management.base import BaseCommand, CommandError

from onboarding.health import UNHEALTHY, engine_health


class Command(BaseCommand):
    help = "Print the engine's health (sweeper, overdue runs, late leavers); exit 1 if unhealthy."

    def handle(self, *args, **options) -> None:
        engine = engine_health()
        self.stdout.write(json.dumps(engine.as_dict(), indent=2))
        if engine.status == UNHEALTHY:
            raise CommandError("; ".join(engine.problems), returncode=1)
