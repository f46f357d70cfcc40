"""Running lifecycle plans, by concern: handing runs to workers (`dispatch`), claiming and
heartbeats (`claims`), the step threads (`threads`), doing the steps (`execute`), undoing them
(`rollback`) and dry runs (`preview`).

Requests (`person_onboard` and friends, in `onboarding.services`) create a run and its steps
and queue a Celery task; the task calls `run_execute` or `run_rollback_execute` here.
"""

from onboarding.runner.dispatch import (
    run_dispatch,
    runs_overdue,
    runs_overdue_requeue,
    runs_release,
)
from onboarding.runner.execute import DATABASE_BLIPS, retry_delay, run_execute, run_steps_create
from onboarding.runner.preview import (
    PlannedChange,
    plan_preview,
    plan_steps,
    run_resume_preview,
    run_rollback_preview,
)
from onboarding.runner.rollback import run_rollback_execute
from onboarding.runner.threads import step_threads_stop

__all__ = [
    "DATABASE_BLIPS",
    "PlannedChange",
    "plan_preview",
    "plan_steps",
    "retry_delay",
    "run_dispatch",
    "run_execute",
    "run_resume_preview",
    "run_rollback_execute",
    "run_rollback_preview",
    "run_steps_create",
    "runs_overdue",
    "runs_overdue_requeue",
    "runs_release",
    "step_threads_stop",
]
