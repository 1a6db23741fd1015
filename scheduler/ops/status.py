"""What `bo-scheduler status` and `list` show: an experiment's state, read, never written.

Counts, the best trial, the daemon holding the lease, and each trial out
with its Celery state and worker (one result-backend read, then `celery
inspect` for the rest). The broker is the one the run stored (without its
password), or the environment's, so a fleet run is never shown as embedded.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scheduler.core.masking import mask_secrets, mask_url
from scheduler.ops.config import (
    BrokerSettingsError,
    ConfigError,
    ExperimentConfig,
    Services,
    celery_app_for,
    parse_config,
    resolve_services,
)
from scheduler.ops.service import experiment_names, load_for_reading, open_control

if TYPE_CHECKING:
    from scheduler.storage.sql.control import ControlStore


def _stored_config(control: ControlStore, name: str) -> ExperimentConfig | None:
    stored = control.load_config(name)
    if stored is None:
        return None
    try:
        return parse_config(stored[0])
    except ConfigError:
        return None


def worker_hosts(
    trials: list[Any], services: Services, use_inspect: bool
) -> tuple[dict[int, dict[str, Any]], str | None]:
    """Celery state and worker hostname of each trial's task, and a note on what failed.

    One result-backend read for all tasks (`result_extended` stores the
    worker's hostname), then `celery inspect` for the tasks it does not name.
    Any failure (an unreachable backend, invalid broker settings) becomes
    the note: `status` reads the database and must work without the fleet.
    """
    from scheduler.celery.results import ResultStore

    found: dict[int, dict[str, Any]] = {}
    with_ids = [t for t in trials if t.run_metadata.get("task_id")]
    if not with_ids:
        return found, None
    if services.embedded:
        return found, "embedded mode: tasks run inside the daemon's process"
    services.apply_to_environ()
    try:
        app = celery_app_for(services)
    except BrokerSettingsError as exc:
        return found, f"invalid broker settings: {mask_secrets(str(exc))}"
    try:
        metas = ResultStore(app.backend).read([t.run_metadata["task_id"] for t in with_ids])
    except Exception as exc:
        return found, f"result backend unreachable: {mask_secrets(str(exc))}"
    for trial, (meta, _) in zip(with_ids, metas, strict=True):
        entry: dict[str, Any] = {"state": "PENDING", "worker": None}
        if meta is not None:
            entry["state"] = meta.get("status")
            result = meta.get("result")
            entry["worker"] = meta.get("worker") or (
                result.get("hostname") if isinstance(result, dict) else None
            )
        found[trial.index] = entry
    missing = {t.run_metadata["task_id"]: t.index for t in with_ids if not found[t.index]["worker"]}
    if missing and use_inspect:
        try:
            inspector = app.control.inspect(timeout=1.0)
            for method in (inspector.active, inspector.reserved):
                for worker, tasks in (method() or {}).items():
                    for task in tasks or []:
                        index = missing.get(task.get("id"))
                        if index is not None:
                            found[index]["worker"] = worker
        except Exception as exc:
            return found, f"could not inspect workers: {mask_secrets(str(exc))}"
    return found, None


def status_data(name: str, url: str, use_inspect: bool) -> dict[str, Any]:
    """What `bo-scheduler status` shows (also its `--json`): counts, best, trials out, daemon.

    `trials_by_status` lists the statuses that have trials.
    """
    from scheduler.analysis.report import best_observed_trial

    experiment = load_for_reading(name, url)  # first: never create the database
    control = open_control(url)
    config = _stored_config(control, name)
    services = resolve_services(config, database_url=url)
    counts = {status: n for status, n in experiment.status_counts().items() if n}
    best = best_observed_trial(experiment)
    out = experiment.running_trials
    hosts, note = worker_hosts(out, services, use_inspect)
    now = time.time()
    running = []
    for trial in out:
        sent = trial.run_metadata.get("sent_at")
        running.append(
            {
                "trial_index": trial.index,
                "status": trial.status.name,
                "task_id": trial.run_metadata.get("task_id"),
                "celery_state": hosts.get(trial.index, {}).get("state"),
                "worker": hosts.get(trial.index, {}).get("worker"),
                "seconds_out": None if sent is None else round(now - float(sent), 1),
                "parameters": trial.arm.parameters,
            }
        )
    return {
        "experiment": name,
        "database": mask_url(url),
        "broker": services.describe()["broker"],
        "daemon": control.lease(name).describe(),
        "budget": None if config is None else config.scheduler.total_trials,
        "trials": len(experiment.trials),
        "trials_by_status": counts,
        "best": None
        if best is None
        else {"trial_index": best[0], "parameters": best[1], "values": best[2]},
        "running": running,
        "note": note,
    }


def list_rows(url: str) -> list[dict[str, Any]]:
    """One row per stored experiment: trials, completed, best values, daemon."""
    from scheduler.analysis.report import best_observed_trial

    names = experiment_names(url)
    if not names:
        return []  # no control table to open (a SQLite file not made yet stays so)
    control = open_control(url)
    rows = []
    for name in names:
        experiment = load_for_reading(name, url)
        best = best_observed_trial(experiment)
        rows.append(
            {
                "experiment": name,
                "trials": len(experiment.trials),
                "completed": experiment.status_counts()["COMPLETED"],
                "best": None if best is None else best[2],
                "daemon": control.lease(name).describe(),
            }
        )
    return rows
