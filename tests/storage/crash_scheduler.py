"""A scheduler process for the crash test: runs until it is killed.

Usage: python crash_scheduler.py DATABASE_URL LEASE_TIMEOUT_SECONDS
"""

from __future__ import annotations

import sys

from scheduler import Scheduler
from scheduler.storage import DBSettings
from tests.storage.storage_helpers import fast_options, sobol_strategy, timed_experiment

if __name__ == "__main__":
    settings = DBSettings(sys.argv[1], lease_timeout_seconds=float(sys.argv[2]))
    scheduler = Scheduler(
        timed_experiment("crash", duration=0.3),
        sobol_strategy(seed=11),
        fast_options(max_pending_trials=3),
        db_settings=settings,
    )
    scheduler.run_n_trials(max_trials=10_000)
