"""GET /metrics: the engine's counts in Prometheus' text format, for a scraper holding
METRICS_TOKEN. A scrape is not audited: one every few seconds would drown the trail."""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from onboarding import health, housekeeping, selectors

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds; a step is a handful of API calls, a slow one waits on a server for minutes.
DURATION_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

Sample = tuple[str, dict[str, str], float]


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("No METRICS_TOKEN is configured.")
    if not bearer_matches(request, token):
        response = HttpResponse(
            "A valid bearer token is required.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE)


def bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest takes as long whatever the bytes are, so the token cannot be guessed by timing.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def metrics_text() -> str:
    engine = health.engine_health()
    runs = housekeeping.runs_by_kind_and_state()
    steps = housekeeping.steps_open_by_system_and_state()
    setbacks = housekeeping.step_setbacks_recent()
    families = [
        family(
            "accessadmin_runs", "gauge", "Lifecycle runs by kind and state.",
            (("accessadmin_runs", {"kind": k, "state": s}, n) for (k, s), n in runs.items()),
        ),
        family(
            "accessadmin_steps", "gauge",
            "Steps of the runs not finished (queued, running, rolling back or failed), by system "
            "and state.",
            (("accessadmin_steps", {"system": y, "state": s}, n) for (y, s), n in steps.items()),
        ),
        family(
            "accessadmin_step_duration_seconds", "histogram",
            "How long the steps done or failed in the last hour took (their last attempt), by "
            "system: a window, not a running total.",
            histogram_samples(
                "accessadmin_step_duration_seconds", housekeeping.step_durations_recent()
            ),
        ),
        family(
            "accessadmin_step_failures_last_hour", "gauge",
            "Step attempts that failed for good in the last hour, by system and action (do, undo).",
            (
                ("accessadmin_step_failures_last_hour", {"system": y, "action": a}, n)
                for (y, a, outcome), n in setbacks.items()
                if outcome == "failed"
            ),
        ),
        family(
            "accessadmin_step_retries_last_hour", "gauge",
            "Step attempts that failed transiently and were retried in the last hour, by system "
            "and action (do, undo).",
            (
                ("accessadmin_step_retries_last_hour", {"system": y, "action": a}, n)
                for (y, a, outcome), n in setbacks.items()
                if outcome == "retried"
            ),
        ),
        single(
            "accessadmin_credentials_waiting", "gauge",
            "Temporary passwords and OTP enrolments waiting to be revealed.",
            housekeeping.credentials_waiting_count(),
        ),
        single(
            "accessadmin_audit_events_total", "counter",
            "Audit events written: the newest event's id (events are only ever added).",
            housekeeping.audit_events_total(),
        ),
        single(
            "accessadmin_runs_overdue", "gauge",
            "Runs no worker has in hand although one should; beat sends them again.",
            selectors.runs_overdue_count(),
        ),
        single(
            "accessadmin_run_heartbeat_oldest_age_seconds", "gauge",
            "Seconds since the most silent worker holding a run said it was alive (0: none holds "
            "one).",
            housekeeping.heartbeat_oldest_age(),
        ),
        single(
            "accessadmin_engine_healthy", "gauge",
            "1 while /healthz finds the engine doing its work on time (ok or degraded), else 0.",
            int(engine.status != health.UNHEALTHY),
        ),
        single(
            "accessadmin_sweep_age_seconds", "gauge",
            "Seconds since beat's sweep last ran (-1: never recorded); unhealthy past three "
            "LIFECYCLE_SWEEP_SECONDS.",
            (timezone.now() - engine.swept_at).total_seconds() if engine.swept_at else -1,
        ),
        single(
            "accessadmin_runs_overdue_long", "gauge",
            "Runs overdue for longer than LIFECYCLE_STALE_SECONDS, though sent again.",
            engine.runs_late,
        ),
        single(
            "accessadmin_leavers_late", "gauge",
            "People past their end date whose offboarding has not started.",
            engine.leavers_late,
        ),
        single(
            "accessadmin_offboardings_waiting", "gauge",
            "Offboardings waiting to retry a system that did not answer.",
            engine.offboardings_waiting,
        ),
    ]  # fmt: skip
    return "".join(line + "\n" for lines in families for line in lines)


def family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> Iterator[str]:
    help_text = help_text.replace("\\", r"\\").replace("\n", r"\n")
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {kind}"
    for sample_name, labels, value in samples:
        yield f"{sample_name}{_labels(labels)} {_number(value)}"


def single(name: str, kind: str, help_text: str, value: float) -> Iterator[str]:
    # A counter's family is named without its _total suffix; its sample keeps it.
    family_name = name.removesuffix("_total") if kind == "counter" else name
    return family(family_name, kind, help_text, [(name, {}, value)])


def histogram_samples(name: str, observations: dict[str, list[float]]) -> Iterator[Sample]:
    for system, seconds in sorted(observations.items()):
        for bound in (*DURATION_BUCKETS, math.inf):
            within = sum(1 for value in seconds if value <= bound)
            le = "+Inf" if bound == math.inf else repr(bound)
            yield f"{name}_bucket", {"system": system, "le": le}, within
        yield f"{name}_sum", {"system": system}, sum(seconds)
        yield f"{name}_count", {"system": system}, len(seconds)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_label_value(value)}"' for key, value in labels.items()) + "}"


def _label_value(value: str) -> str:
    return str(value).replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
