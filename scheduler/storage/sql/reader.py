"""Reading experiments back: load, list and delete by name.

`read_experiment` runs inside one transaction so the trials, data and
strategy it returns are a consistent snapshot even while a scheduler writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from scheduler.core.experiment import Experiment
from scheduler.core.masking import mask_url
from scheduler.generation.strategy import GenerationStrategy
from scheduler.storage.encoding import experiment_from_json, generation_strategy_from_json
from scheduler.storage.errors import ExperimentNotFoundError
from scheduler.storage.registry import Registry
from scheduler.storage.settings import DBSettings
from scheduler.storage.sql import lease
from scheduler.storage.sql.bulk import (
    DATA_SELECT,
    collector_paused,
    last_batch,
    loaded_trial,
    plain_rows,
    stored_data,
    trial_select,
)
from scheduler.storage.sql.engine import json_dumps
from scheduler.storage.sql.models import (
    ArmRow,
    DataRow,
    ExperimentRow,
    GenerationStrategyRow,
    LeaseRow,
    TrialRow,
)
from scheduler.storage.sql.rows import Snapshot

_MAX_NAMES_SHOWN = 20


@dataclass
class LoadedExperiment:
    """An experiment as read, plus what the store needs to save it incrementally."""

    experiment: Experiment
    experiment_id: int
    generation_strategy: GenerationStrategy | None
    strategy_state: str | None
    lease_version: int
    last_batch: int
    snapshots: dict[int, Snapshot] = field(default_factory=dict)


def experiment_names(conn: Connection) -> list[str]:
    return list(conn.execute(select(ExperimentRow.name).order_by(ExperimentRow.name)).scalars())


def not_found(conn: Connection, name: str) -> ExperimentNotFoundError:
    names = experiment_names(conn)
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES_SHOWN]) or "none"
    more = f" (and {len(names) - _MAX_NAMES_SHOWN} more)" if len(names) > _MAX_NAMES_SHOWN else ""
    where = mask_url(conn.engine.url)
    return ExperimentNotFoundError(
        f"No experiment named {name!r} is stored in {where}. Stored experiments: {shown}{more}."
    )


def experiment_row(conn: Connection, name: str) -> Any:
    """The experiment's row, or raise `ExperimentNotFoundError` naming the known ones."""
    row = conn.execute(select(ExperimentRow).where(ExperimentRow.name == name)).one_or_none()
    if row is None:
        raise not_found(conn, name)
    return row


def read_experiment(conn: Connection, name: str, registry: Registry) -> LoadedExperiment:
    """The stored experiment `name`, whole (see `bulk` for how 100,000 trials stay fast)."""
    with collector_paused():
        return _read(conn, name, registry)


def _read(conn: Connection, name: str, registry: Registry) -> LoadedExperiment:
    row = experiment_row(conn, name)
    blob = {
        "description": row.description,
        "is_test": row.is_test,
        "search_space": row.search_space,
        "optimization_config": row.optimization_config,
        "runner": row.runner,
        "tracking_metrics": row.tracking_metrics,
    }
    experiment = experiment_from_json(name, blob, registry)
    snapshots: dict[int, Snapshot] = {}
    trials = []
    for trial_row in plain_rows(conn, trial_select(row.id)):
        trial, stored = loaded_trial(trial_row)
        snapshots[trial.index] = stored
        trials.append(trial)
    experiment.add_existing_trials(trials)
    data_rows = plain_rows(
        conn, select(*DATA_SELECT).where(DataRow.experiment_id == row.id).order_by(DataRow.id)
    )
    data = stored_data(data_rows)
    if data is not None:
        experiment.attach_data(data)
    strategy_row = conn.execute(
        select(GenerationStrategyRow).where(GenerationStrategyRow.experiment_id == row.id)
    ).one_or_none()
    strategy = None
    state_text = None
    if strategy_row is not None:
        strategy = generation_strategy_from_json(strategy_row.definition, strategy_row.state)
        state_text = json_dumps(strategy_row.state)
    return LoadedExperiment(
        experiment=experiment,
        experiment_id=row.id,
        generation_strategy=strategy,
        strategy_state=state_text,
        lease_version=lease.read(conn, row.id).version,
        last_batch=last_batch(data_rows),
        snapshots=snapshots,
    )


def delete_rows(conn: Connection, experiment_id: int) -> None:
    """Delete an experiment and everything that belongs to it (children first)."""
    for model in (DataRow, ArmRow, TrialRow, GenerationStrategyRow, LeaseRow):
        conn.execute(delete(model).where(model.experiment_id == experiment_id))
    conn.execute(delete(ExperimentRow).where(ExperimentRow.id == experiment_id))


# -- public functions --------------------------------------------------------
def _store(db_settings: DBSettings | str | None) -> Any:
    from scheduler.storage.sql.store import SQLStore

    return SQLStore(db_settings)


def load_experiment(name: str, db_settings: DBSettings | str | None = None) -> Experiment:
    """Load a stored experiment (trials and data) without running anything."""
    experiment, _ = _store(db_settings).load_experiment(name)
    assert isinstance(experiment, Experiment)
    return experiment


def list_experiments(db_settings: DBSettings | str | None = None) -> list[str]:
    """Names of the stored experiments, sorted."""
    names: list[str] = _store(db_settings).list_experiments()
    return names


def delete_experiment(name: str, db_settings: DBSettings | str | None = None) -> None:
    """Delete a stored experiment; refuses while a live scheduler runs it."""
    _store(db_settings).delete_experiment(name)
