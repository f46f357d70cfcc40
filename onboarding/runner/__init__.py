"""Running lifecycle plans, by concern: claiming and heartbeats (`claims`), the step threads
(`threads`), doing the steps (`execute`), undoing them (`rollback`) and dry runs (`preview`).

Requests (`person_onboard` and friends, in `onboarding.services`) create a run and its steps
and queue a Celery task; the task calls `run_execute` or `run_rollback_execute` here.
"""

from onboarding.runner.claims import runs_stale
from onboarding.runner.execute import retry_delay, run_execute, run_give_up, run_steps_create
from onboarding.runner.preview import (
    PlannedChange,
    plan_preview,
    run_resume_preview,
    run_rollback_preview,
)
from onboarding.runner.rollback import run_rollback_execute
from onboarding.runner.threads import step_threads_stop

__all__ = [
    "PlannedChange",
    "plan_preview",
    "retry_delay",
    "run_execute",
    "run_give_up",
    "run_resume_preview",
    "run_rollback_execute",
    "run_rollback_preview",
    "run_steps_create",
    "runs_stale",
    "step_threads_stop",
]
