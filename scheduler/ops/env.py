"""Every environment variable the ops layer reads, named once.

The names are defined where the setting is parsed: the database URL by
storage (`scheduler.storage.settings`), the broker and result backend and the
objective modules by the workers (`workers.settings`, which Celery's app is
built from). Ops only adds its own command-line defaults. Other ops modules
import these constants and never spell a variable name themselves, so a
rename is one edit and a grep for a name finds its one definition.
"""

from __future__ import annotations

from typing import Final

from scheduler.storage.settings import DATABASE_URL_ENV as ENV_DATABASE_URL
from scheduler.storage.settings import DEFAULT_URL as DEFAULT_DATABASE_URL
from workers.settings import (
    EMBEDDED_BROKER_URL,
    ENV_BROKER_URL,
    ENV_CELERY_BROKER_URL,
    ENV_CELERY_RESULT_BACKEND,
    ENV_OBJECTIVE_MODULES,
    ENV_RESULT_BACKEND,
)

#: `--metrics-port` of `run` and `resume`.
ENV_METRICS_PORT: Final = "BO_METRICS_PORT"
#: The CONFIG argument of `run`.
ENV_CONFIG: Final = "BO_CONFIG"
#: A shared daemon's cap on trials out between its experiments (`--max-trials-out`).
ENV_MAX_TRIALS_OUT: Final = "BO_MAX_TRIALS_OUT"

__all__ = [
    "DEFAULT_DATABASE_URL",
    "EMBEDDED_BROKER_URL",
    "ENV_BROKER_URL",
    "ENV_CELERY_BROKER_URL",
    "ENV_CELERY_RESULT_BACKEND",
    "ENV_CONFIG",
    "ENV_DATABASE_URL",
    "ENV_MAX_TRIALS_OUT",
    "ENV_METRICS_PORT",
    "ENV_OBJECTIVE_MODULES",
    "ENV_RESULT_BACKEND",
]
