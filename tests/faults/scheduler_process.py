"""A scheduler in its own process, for the crash scenario (killed, then resumed anew).

    python -m tests.faults.scheduler_process run    DB_URL NAME COUNT_DIR BUDGET LEASE_S
    python -m tests.faults.scheduler_process resume DB_URL NAME COUNT_DIR BUDGET LEASE_S OUT

The broker comes from the environment (``BO_BROKER_URL``), as in production:
the runner uses ``workers.app.app``. ``run`` starts the experiment and runs
until killed; ``resume`` loads it with ``Scheduler.from_stored_experiment``,
writes the status of every trial right after loading (the catch-up poll has
run) to ``OUT`` as JSON, then runs the experiment to its budget.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scheduler import DBSettings, Scheduler
from tests.faults.harness import branin_experiment, fast_options, sobol


def main(argv: list[str]) -> int:
    """Entry point; see the module docstring for the arguments."""
    mode, url, name, count_dir, budget, lease = argv[:6]
    settings = DBSettings(url=url, lease_timeout_seconds=float(lease))
    options = fast_options(max_pending_trials=4)
    if mode == "run":
        from workers.app import app

        experiment = branin_experiment(name, app, Path(count_dir), runtime_seconds=1.5)
        Scheduler(experiment, sobol(), options, settings).run_n_trials(max_trials=int(budget))
        return 0
    scheduler = Scheduler.from_stored_experiment(name, options, settings)
    after_load = {t.index: t.status.name for t in scheduler.experiment.trials.values()}
    Path(argv[6]).write_text(json.dumps(after_load))
    # Candidates a kill left unsent are deployed first and count as this run's (issue 13).
    candidates = len(scheduler.candidate_trials)
    remaining = int(budget) - scheduler.experiment.num_trials + candidates
    scheduler.run_n_trials(max_trials=remaining, timeout_hours=0.03)  # stuck: end, report
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
