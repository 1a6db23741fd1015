"""One daemon, several experiments on one fleet: `bo-scheduler run a.yaml b.yaml`.

Each experiment runs its own loop (`service.run_experiment`) on a thread of
its own, with its own lease, budget, generation strategy, stopping and
failure-rate guard, so one experiment's failure-rate abort, crash or slow
model fit does not stall the others: each thread polls its own trials and
fits its own model. What they share:

- the services: one database, one broker and result backend (one fleet),
  checked once; every experiment's objective is checked against the fleet
  before any trial of any experiment is sent;
- the signals: SIGTERM or SIGINT stops them all (`StopGroup`), while
  `bo-scheduler stop NAME` stops one and leaves the others running;
- the Prometheus endpoint: one port, every series labelled `experiment`;
- optionally a cap on trials out (`--max-trials-out N`), split between the
  experiments by their `scheduler.weight` (`scheduler.fleet_share`);
  trials of different experiments can go to different queues (the config's
  `runner.queue`, e.g. GPU and CPU workers).

Log lines of an experiment's thread carry its name (`[name] ...`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.core.errors import BoSchedulerError
from scheduler.core.masking import mask_url
from scheduler.fleet_share import FleetShare
from scheduler.ops.config import ExperimentConfig, Services
from scheduler.ops.daemon import EXPERIMENT_TAG, StopGroup, signal_handlers
from scheduler.ops.metrics_exporter import MetricFamilies
from scheduler.ops.service import (
    RunOutcome,
    RunSettings,
    Sharing,
    UnusableConfigError,
    check_fleet_has_objective,
    connect_app,
    run_experiment,
    serve_metrics,
)

logger = logging.getLogger("scheduler.ops.shared_daemon")


@dataclass(frozen=True)
class PlannedRun:
    """One experiment of a shared daemon: its config, services and run settings."""

    config: ExperimentConfig
    services: Services
    settings: RunSettings


@dataclass
class ExperimentRun:
    """How one experiment of a shared daemon ended: its outcome, or what it raised."""

    name: str
    outcome: RunOutcome | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class DaemonSettings:
    """What the experiments of one daemon share: the metrics port and the cap on trials out."""

    metrics_port: int | None = None
    metrics_address: str = "0.0.0.0"
    max_trials_out: int | None = None


def run_experiments(runs: Sequence[PlannedRun], daemon: DaemonSettings) -> list[ExperimentRun]:
    """Run every experiment of `runs` to its budget (or until stopped), concurrently.

    Raises before any trial is sent when the plan cannot run (two experiments
    of one name, different databases or fleets, an objective no worker has,
    an unusable metrics port); afterwards each experiment's error is its own,
    returned in its `ExperimentRun`, and the others go on.
    """
    _check_plan(runs)
    services = runs[0].services
    app = connect_app(services)
    for run in runs:
        check_fleet_has_objective(run.config, services, app)
    families = MetricFamilies()
    serve_metrics(families, daemon.metrics_port, daemon.metrics_address)
    share = None if daemon.max_trials_out is None else FleetShare(daemon.max_trials_out)
    if share is not None:  # all at once, so the first to ask does not take the whole cap
        for run in runs:
            share.join(run.config.name, run.config.scheduler.weight)
    sharing = Sharing(families, StopGroup(), share)
    results = [ExperimentRun(run.config.name) for run in runs]
    threads = [
        threading.Thread(
            target=_run_one, args=(run, app, sharing, result), name=f"bo-{result.name}"
        )
        for run, result in zip(runs, results, strict=True)
    ]
    logger.info(
        "running %d experiments: %s%s",
        len(runs),
        ", ".join(r.name for r in results),
        "" if share is None else f"; at most {share.cap} trials out between them",
    )
    try:
        with signal_handlers(sharing.stop_group):
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():  # a timed join lets the main thread take signals
                    thread.join(0.2)
    finally:
        families.close()
    return results


def _run_one(run: PlannedRun, app: object, sharing: Sharing, result: ExperimentRun) -> None:
    EXPERIMENT_TAG.set(f"[{result.name}] ")
    try:
        result.outcome = run_experiment(run.config, run.services, run.settings, app, sharing)
    except BoSchedulerError as exc:
        logger.error("%s", exc)
        result.error = exc
    except Exception as exc:  # a bug in one experiment's run must not end the others
        logger.exception("experiment %r crashed; the others go on", result.name)
        result.error = exc
    finally:
        if sharing.fleet_share is not None:  # finished, stopped or failed: share freed
            sharing.fleet_share.leave(result.name)


def _check_plan(runs: Sequence[PlannedRun]) -> None:
    """One name per experiment, and one database and one fleet for all of them."""
    if not runs:
        raise UnusableConfigError("no experiment to run; pass one or more config files")
    seen: dict[str, str] = {}
    for run in runs:
        source = run.settings.config_source
        if run.config.name in seen:
            raise UnusableConfigError(
                f"{seen[run.config.name]} and {source} both describe experiment "
                f"{run.config.name!r}; give one of them another name:"
            )
        seen[run.config.name] = source
    first = runs[0]
    for run in runs[1:]:
        for what, mine, theirs in _differences(first.services, run.services):
            raise UnusableConfigError(
                f"{first.settings.config_source} uses {what} {mine} but "
                f"{run.settings.config_source} uses {theirs}; one daemon runs its "
                f"experiments on one database and one fleet: give them the same {what}, "
                "or run them in separate daemons"
            )


def _differences(a: Services, b: Services) -> list[tuple[str, str, str]]:
    pairs = [
        ("database", a.database_url, b.database_url),
        ("broker", a.broker_url, b.broker_url),
        ("result backend", a.result_backend, b.result_backend),
    ]
    return [(what, _shown(x), _shown(y)) for what, x, y in pairs if (x or None) != (y or None)]


def _shown(url: str | None) -> str:
    return "none (embedded)" if not url else mask_url(url)
