"""A scheduler process for the deploy-crash test: exits right after one send.

Usage: python crash_deploy.py DATABASE_URL FOLDER  (with BO_TEST_EXIT_AFTER_SEND set)
"""

from __future__ import annotations

import sys

from scheduler import Scheduler
from scheduler.storage import DBSettings
from tests.storage.storage_helpers import fast_options, files_experiment, sobol_strategy

#: Short, so the test's resume need not wait long for the dead process's lease.
LEASE_TIMEOUT = 1.0

if __name__ == "__main__":
    scheduler = Scheduler(
        files_experiment(sys.argv[2], "deploy-crash"),
        sobol_strategy(seed=5),
        fast_options(max_pending_trials=5),
        db_settings=DBSettings(sys.argv[1], lease_timeout_seconds=LEASE_TIMEOUT),
    )
    scheduler.run_n_trials(max_trials=5)
