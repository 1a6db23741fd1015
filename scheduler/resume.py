"""Resume a stored experiment: `Scheduler.from_stored_experiment` is a thin wrapper.

The database holds everything the scheduler knows (trials, run metadata,
data, the strategy's definition and generator state), so a new process can
pick up after a crash: it loads the experiment, rebuilds the strategy, polls
the trials that were out when the old scheduler died (collecting results that
finished meanwhile), and continues from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from scheduler.core.runner import FindsSentTrials, Runner
from scheduler.core.trial import Trial
from scheduler.generation.strategy import GenerationStrategy
from scheduler.options import SchedulerOptions
from scheduler.storage.errors import StorageError
from scheduler.storage.settings import DBSettings
from scheduler.storage.sql.store import SQLStore

if TYPE_CHECKING:
    from scheduler.scheduler import Scheduler

logger = logging.getLogger("scheduler")

S = TypeVar("S", bound="Scheduler")


def from_stored_experiment(
    scheduler_class: type[S],
    experiment_name: str,
    options: SchedulerOptions | None = None,
    db_settings: DBSettings | str | None = None,
    generation_strategy: GenerationStrategy | None = None,
    bind_runner: Callable[[Runner], object] | None = None,
    **scheduler_kwargs: Any,
) -> S:
    """Load `experiment_name` and return a `scheduler_class` ready to continue it.

    The stored generation strategy is rebuilt from its step definitions and
    state; pass `generation_strategy` to use another one (it still gets the
    stored generator state for steps of the same name, so e.g. Sobol does not
    propose its first points again). Trials that were STAGED or RUNNING, and
    CANDIDATE trials the runner had already sent (`FindsSentTrials`), are
    polled once before this returns.

    `bind_runner(runner)` is called with the loaded runner before that poll, to
    give it what a stored runner cannot carry (e.g. `scheduler.celery.bind_app(app)`
    makes a stored `CeleryRunner` send with `app`). The loop never names a runner
    class: a runner that needs nothing is used as loaded.
    """
    store = SQLStore(db_settings)
    experiment, stored_strategy = store.load_experiment(experiment_name)
    if bind_runner is not None and experiment.runner is not None:
        bind_runner(experiment.runner)
    strategy = generation_strategy or stored_strategy
    if strategy is None:
        raise StorageError(
            f"Experiment {experiment_name!r} has no stored generation strategy; pass "
            "generation_strategy=... to from_stored_experiment."
        )
    if generation_strategy is not None and stored_strategy is not None:
        generation_strategy.set_state(stored_strategy.get_state())
    scheduler = scheduler_class(
        experiment,
        strategy,
        options,
        db_settings=store.settings,
        store=store,
        **scheduler_kwargs,
    )
    if scheduler.pending_trials:  # the catch-up writes: hold the lease for it
        store.heartbeat(experiment)
        try:
            reattached = reattach_sent_candidates(scheduler)
            logger.info(
                "resumed experiment %r: %d trial(s), %d still out (%d sent just before "
                "the crash); polling those first",
                experiment_name,
                experiment.num_trials,
                len(scheduler.running_trials),
                len(reattached),
            )
            if scheduler.running_trials:
                scheduler.poll_and_process_results()
        finally:
            store.release(experiment)
    return scheduler


def reattach_sent_candidates(scheduler: Scheduler) -> list[Trial]:
    """Record as deployed the CANDIDATE trials the runner says were already sent
    (a crash came between the send and its save), so the catch-up poll covers them."""
    runner = scheduler.runner
    if not isinstance(runner, FindsSentTrials):
        return []  # the runner cannot tell: the next run deploys them
    reattached = []
    for trial in scheduler.candidate_trials:
        run_metadata = runner.find_sent(trial)
        if run_metadata is not None:
            scheduler.record_deploy(trial, run_metadata)
            reattached.append(trial)
    if reattached:
        scheduler.store.save_trials(scheduler.experiment, reattached)
    return reattached
