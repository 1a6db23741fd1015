"""Names shared by the scheduler and the workers.

Both sides of the broker must agree on these strings; keeping them in one
import-free module lets the scheduler use them without loading Celery.
"""

from __future__ import annotations

from typing import Final

#: Celery task name of the evaluation task (what the scheduler sends).
TASK_NAME: Final = "bo_scheduler.evaluate"
#: Queue the workers consume and the scheduler sends to.
DEFAULT_QUEUE: Final = "bo-trials"
#: Celery app main name.
APP_NAME: Final = "bo_scheduler"

# Environment variables read by ``workers.app.build_config``.
ENV_BROKER_URL: Final = "BO_BROKER_URL"
ENV_RESULT_BACKEND: Final = "BO_RESULT_BACKEND"
ENV_OBJECTIVE_MODULES: Final = "BO_OBJECTIVE_MODULES"
ENV_TRIAL_SOFT_TIME_LIMIT: Final = "BO_TRIAL_SOFT_TIME_LIMIT"
ENV_RESULT_EXPIRES: Final = "BO_RESULT_EXPIRES"
ENV_VISIBILITY_TIMEOUT: Final = "BO_VISIBILITY_TIMEOUT"
# Celery's own names, which Celery itself also reads from the environment.
ENV_CELERY_BROKER_URL: Final = "CELERY_BROKER_URL"
ENV_CELERY_RESULT_BACKEND: Final = "CELERY_RESULT_BACKEND"

#: Key prefix of Celery's Redis result entries: ``celery-task-meta-<task id>``.
RESULT_KEY_PREFIX: Final = "celery-task-meta-"
#: Key prefix the scheduler sets (in the result backend) to ask a trial to stop.
STOP_KEY_PREFIX: Final = "bo-stop-"
#: Key prefix under which a finished task leaves its whole learning curve.
CURVE_KEY_PREFIX: Final = "bo-curve-"
#: Key prefix naming the message copy that runs a task (see ``workers.claim``).
CLAIM_KEY_PREFIX: Final = "bo-claim-"
#: Message header carrying the id of one publish attempt of a trial's task.
COPY_HEADER: Final = "bo_copy"
#: Custom Celery state a task is in while it publishes progress.
PROGRESS_STATE: Final = "PROGRESS"
#: Entry-point group through which installed packages provide objectives.
ENTRY_POINT_GROUP: Final = "bo_scheduler.objectives"

# Embedded mode (nothing configured): everything in one process.
EMBEDDED_BROKER_URL: Final = "memory://"
EMBEDDED_RESULT_BACKEND: Final = "cache+memory://"
#: kombu's in-memory transport polls once a second unless told otherwise.
EMBEDDED_POLLING_INTERVAL: Final = 0.005

# Defaults, in seconds.
DEFAULT_TRIAL_SOFT_TIME_LIMIT: Final = 6 * 3600
DEFAULT_VISIBILITY_TIMEOUT: Final = 12 * 3600
DEFAULT_RESULT_EXPIRES: Final = 7 * 24 * 3600
#: Shortest result lifetime accepted: a scheduler that was down over a long
#: weekend must still find the results of the trials it had sent.
MIN_RESULT_EXPIRES: Final = 7 * 24 * 3600


def result_key(task_id: str) -> str:
    """Redis key under which Celery stores the state and result of ``task_id``."""
    return f"{RESULT_KEY_PREFIX}{task_id}"


def stop_key(task_id: str) -> str:
    """Result-backend key whose presence asks the trial run by ``task_id`` to stop."""
    return f"{STOP_KEY_PREFIX}{task_id}"


def hard_time_limit(soft_time_limit: int) -> int:
    """Hard limit a bit above the soft one: time for the task to record its failure."""
    return soft_time_limit + max(5, min(300, soft_time_limit // 10))


def curve_key(task_id: str) -> str:
    """Result-backend key holding the curve ``task_id`` reported, once it has returned
    (its ``SUCCESS`` result replaces the ``PROGRESS`` state that held the curve)."""
    return f"{CURVE_KEY_PREFIX}{task_id}"
