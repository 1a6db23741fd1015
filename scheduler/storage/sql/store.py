"""`SQLStore`: the `ExperimentStore` the Scheduler writes through, on SQLAlchemy 2.

Every call is one transaction, so a failed call changes nothing. Writes are
proportional to what changed: the store keeps a snapshot of each trial as it
last wrote it and sends one INSERT for new trials, one UPDATE (of the changed
columns only) per changed trial, and INSERTs of the new data rows. Nothing is
ever rewritten because the experiment grew.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from scheduler.core.clock import utcnow
from scheduler.core.data import Data
from scheduler.core.experiment import Experiment
from scheduler.core.masking import mask_url
from scheduler.core.trial import Trial
from scheduler.generation.strategy import GenerationStrategy
from scheduler.storage.encoding import (
    definition_differences,
    experiment_to_json,
    generation_strategy_to_json,
)
from scheduler.storage.errors import (
    ExperimentLockedError,
    ExperimentNameConflictError,
    StorageConnectionError,
    StorageError,
    StorageLockedError,
)
from scheduler.storage.settings import DBSettings, as_settings, new_owner_id
from scheduler.storage.sql import engine as engines
from scheduler.storage.sql import lease
from scheduler.storage.sql.engine import connect, json_dumps
from scheduler.storage.sql.migrate import checked_engine
from scheduler.storage.sql.models import (
    ArmRow,
    DataRow,
    ExperimentRow,
    GenerationStrategyRow,
    LeaseRow,
    TrialRow,
)
from scheduler.storage.sql.reader import (
    delete_rows,
    experiment_names,
    experiment_row,
    read_experiment,
)
from scheduler.storage.sql.rows import (
    Snapshot,
    changed_columns,
    data_rows,
    same_as_stored,
    snapshot,
    trial_values,
)

logger = logging.getLogger(__name__)

#: How long a store call keeps retrying while the database server is unreachable.
RETRY_SECONDS = 30.0
_RETRYABLE = (OperationalError, InterfaceError, DisconnectionError, StorageConnectionError)
F = TypeVar("F", bound=Callable[..., Any])


def _is_lock(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig or exc).lower()


def _retrying(method: F) -> F:
    """Retry a store call (one transaction) with backoff while the server is unreachable.

    A failed transaction changed nothing and the in-memory bookkeeping only
    changes after a commit, so calling again is safe. A database server
    restart then pauses the scheduler instead of killing it. SQLite is a
    local file: its only transient error is another process's lock (a long
    transaction, a database browser left open), retried the same way; when it
    outlasts the wait, `StorageLockedError` says who to close, in one line.
    """

    @functools.wraps(method)
    def wrapper(self: SQLStore, *args: Any, **kwargs: Any) -> Any:
        sqlite = self.engine.url.get_backend_name() == "sqlite"
        deadline = time.monotonic() + RETRY_SECONDS
        delay = 0.1
        while True:
            try:
                return method(self, *args, **kwargs)
            except _RETRYABLE as exc:
                if sqlite and not _is_lock(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    if sqlite:
                        raise StorageLockedError(
                            f"database {mask_url(self.engine.url)} stayed locked by another "
                            f"process for over {RETRY_SECONDS + engines.SQLITE_BUSY_SECONDS:.0f} s "
                            f"during {method.__name__}; close whatever holds it (a long "
                            "transaction, a database browser), then continue with "
                            "`bo-scheduler resume NAME`"
                        ) from None
                    raise
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                logger.warning(
                    "database unreachable during %s (%s); retrying in %.1f s",
                    method.__name__,
                    reason,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    return wrapper  # type: ignore[return-value]


@dataclass
class _Tracked:
    """What the store knows of one experiment it saves."""

    experiment_id: int
    experiment: Experiment
    snapshots: dict[int, Snapshot] = field(default_factory=dict)
    strategy_state: str | None = None
    last_batch: int = 0
    lease_version: int | None = None
    holds_lease: bool = False
    last_heartbeat: float = 0.0
    just_loaded: bool = False


class SQLStore:
    """Saves experiments to SQL as the scheduler changes them; loads them back."""

    def __init__(self, db_settings: DBSettings | str | None = None) -> None:
        self.settings = as_settings(db_settings)
        self.registry = self.settings.resolved_registry
        self.owner_id = self.settings.owner_id or new_owner_id()
        self.engine: Engine = checked_engine(self.settings.url, self.settings.echo)
        self._tracked: dict[str, _Tracked] = {}

    def __repr__(self) -> str:
        return f"SQLStore(url={mask_url(self.engine.url)!r}, owner={self.owner_id!r})"

    # -- reading ---------------------------------------------------------------
    @_retrying
    def load_experiment(self, name: str) -> tuple[Experiment, GenerationStrategy | None]:
        """Experiment with trials and data, and its strategy rebuilt with its state."""
        with connect(self.engine) as conn:
            loaded = read_experiment(conn, name, self.registry)
        self._tracked[name] = _Tracked(
            experiment_id=loaded.experiment_id,
            experiment=loaded.experiment,
            snapshots=loaded.snapshots,
            strategy_state=loaded.strategy_state,
            last_batch=loaded.last_batch,
            lease_version=loaded.lease_version,
            just_loaded=True,
        )
        return loaded.experiment, loaded.generation_strategy

    @_retrying
    def list_experiments(self) -> list[str]:
        with connect(self.engine, begin=False) as conn:
            return experiment_names(conn)

    @_retrying
    def delete_experiment(self, name: str) -> None:
        with connect(self.engine) as conn:
            row = experiment_row(conn, name)
            current = lease.read(conn, row.id)
            now = utcnow()
            timeout = self.settings.lease_timeout_seconds
            if current.owner_id != self.owner_id and current.is_alive(now, timeout):
                raise lease.locked_error(name, current, now, timeout)
            delete_rows(conn, row.id)
        self._tracked.pop(name, None)

    # -- ExperimentStore: saving ----------------------------------------------
    @_retrying
    def save_experiment(
        self, experiment: Experiment, generation_strategy: GenerationStrategy
    ) -> None:
        """Create the experiment's rows, or attach to the stored experiment of that name.

        Attaching needs the same search space and optimization config, and
        every stored trial present in `experiment` (else it would be a
        different history): that is how a loaded experiment continues.
        The lease is checked (taken and handed back), so this refuses while
        another scheduler runs the experiment.
        """
        encoded = experiment_to_json(experiment, self.registry)  # unregistered -> raise now
        definition = generation_strategy_to_json(generation_strategy)
        state = generation_strategy.get_state()
        with connect(self.engine) as conn:
            found = conn.execute(
                select(
                    ExperimentRow.id,
                    ExperimentRow.search_space,
                    ExperimentRow.optimization_config,
                ).where(ExperimentRow.name == experiment.name)
            ).one_or_none()
            if found is None:
                tracked = self._create(conn, experiment, encoded)
            else:
                tracked = self._attach(conn, experiment, encoded, found)
            version = lease.acquire(
                conn,
                tracked.experiment_id,
                experiment.name,
                self.owner_id,
                self.settings.lease_timeout_seconds,
                tracked.lease_version,
            )
            self._write_strategy(conn, tracked, generation_strategy.name, definition, state)
            snapshots = self._write_trials(
                conn, tracked, list(experiment.trials.values()), tracked.just_loaded
            )
            batch = self._write_data(conn, tracked, self._unsaved_data(experiment, tracked))
            if not tracked.holds_lease:  # hold it only while a run loop is going
                lease.release(conn, tracked.experiment_id, self.owner_id)
        # Committed: only now does the in-memory bookkeeping change.
        tracked.snapshots.update(snapshots)
        tracked.last_batch = batch
        tracked.strategy_state = json_dumps(state)
        tracked.lease_version = version
        tracked.just_loaded = False
        self._tracked[experiment.name] = tracked

    @_retrying
    def save_trials(self, experiment: Experiment, trials: Sequence[Trial]) -> None:
        tracked = self._tracking(experiment)
        with connect(self.engine) as conn:
            snapshots = self._write_trials(conn, tracked, list(trials))
        tracked.snapshots.update(snapshots)

    @_retrying
    def save_new_trials(
        self,
        experiment: Experiment,
        trials: Sequence[Trial],
        generation_strategy: GenerationStrategy,
    ) -> None:
        tracked = self._tracking(experiment)
        state = generation_strategy.get_state()
        text = json_dumps(state)
        with connect(self.engine) as conn:
            snapshots = self._write_trials(conn, tracked, list(trials))
            if text != tracked.strategy_state:
                conn.execute(
                    update(GenerationStrategyRow)
                    .where(GenerationStrategyRow.experiment_id == tracked.experiment_id)
                    .values(state=state, time_updated=utcnow())
                )
        tracked.snapshots.update(snapshots)
        tracked.strategy_state = text

    @_retrying
    def save_data(self, experiment: Experiment, data: Data) -> None:
        tracked = self._tracking(experiment)
        if data.df.empty:
            return
        with connect(self.engine) as conn:
            tracked.last_batch = self._write_data(conn, tracked, data)

    # -- ExperimentStore: lease ---------------------------------------------------
    @_retrying
    def heartbeat(self, experiment: Experiment) -> None:
        """Take the lease if not held; else renew it (at most every timeout/6 s).

        Raises `ExperimentLockedError` when another scheduler holds it, or took
        it over because this one was silent longer than the lease timeout.
        """
        tracked = self._tracking(experiment)
        timeout = self.settings.lease_timeout_seconds
        if not tracked.holds_lease:
            with connect(self.engine) as conn:
                version = lease.acquire(
                    conn,
                    tracked.experiment_id,
                    experiment.name,
                    self.owner_id,
                    timeout,
                    tracked.lease_version,
                )
            tracked.lease_version, tracked.holds_lease = version, True
            tracked.last_heartbeat = time.monotonic()
            return
        if time.monotonic() - tracked.last_heartbeat < timeout / 6:
            return
        with connect(self.engine) as conn:
            renewed = lease.renew(conn, tracked.experiment_id, self.owner_id, utcnow())
        if not renewed:
            tracked.holds_lease = False
            raise ExperimentLockedError(
                f"This scheduler lost its lease on experiment {experiment.name!r}: it was "
                f"silent longer than the lease timeout ({timeout:g} s) and another scheduler "
                "took the experiment over. Stopping so trials are not run twice."
            )
        tracked.last_heartbeat = time.monotonic()

    @_retrying
    def release(self, experiment: Experiment) -> None:
        tracked = self._tracked.get(experiment.name)
        if tracked is None or not tracked.holds_lease:
            return
        with connect(self.engine) as conn:
            lease.release(conn, tracked.experiment_id, self.owner_id)
        tracked.holds_lease = False

    # -- helpers ---------------------------------------------------------------
    def _tracking(self, experiment: Experiment) -> _Tracked:
        tracked = self._tracked.get(experiment.name)
        if tracked is None or tracked.experiment is not experiment:
            raise StorageError(
                f"Experiment {experiment.name!r} is not attached to this store; call "
                "save_experiment(experiment, generation_strategy) first (the Scheduler "
                "does this when it is created)."
            )
        return tracked

    def _create(
        self, conn: Connection, experiment: Experiment, encoded: dict[str, Any]
    ) -> _Tracked:
        now = utcnow()
        experiment_id = conn.execute(
            insert(ExperimentRow)
            .values(name=experiment.name, time_created=now, **encoded)
            .returning(ExperimentRow.id)
        ).scalar_one()
        conn.execute(insert(LeaseRow).values(experiment_id=experiment_id, version=0))
        return _Tracked(experiment_id=experiment_id, experiment=experiment, lease_version=0)

    def _attach(
        self, conn: Connection, experiment: Experiment, encoded: dict[str, Any], found: Any
    ) -> _Tracked:
        stored = {
            "search_space": found.search_space,
            "optimization_config": found.optimization_config,
        }
        problems = definition_differences(stored, encoded)
        if problems:
            raise ExperimentNameConflictError(
                f"A different experiment named {experiment.name!r} is already stored ("
                + "; ".join(problems)
                + "). Choose another name, delete the stored one with "
                f"delete_experiment({experiment.name!r}, db_settings), or resume it with "
                f"Scheduler.from_stored_experiment({experiment.name!r}, ...)."
            )
        # How the experiment runs (runner, tracking metrics) may change on resume.
        conn.execute(
            update(ExperimentRow)
            .where(ExperimentRow.id == found.id)
            .values(
                runner=encoded["runner"],
                tracking_metrics=encoded["tracking_metrics"],
                description=encoded["description"],
                is_test=encoded["is_test"],
            )
        )
        tracked = self._tracked.get(experiment.name)
        if tracked is not None and tracked.experiment is experiment:
            return tracked
        stored_indices = set(
            conn.execute(select(TrialRow.trial_index).where(TrialRow.experiment_id == found.id))
            .scalars()
            .all()
        )
        missing = sorted(stored_indices - set(experiment.trials))
        if missing:
            raise ExperimentNameConflictError(
                f"Experiment {experiment.name!r} is already stored with {len(stored_indices)} "
                f"trial(s), and this Experiment object lacks {len(missing)} of them "
                f"(e.g. trial {missing[0]}). To continue it, load it with "
                f"Scheduler.from_stored_experiment({experiment.name!r}, ...); to start "
                f"over, delete_experiment({experiment.name!r}, db_settings) or use a new name."
            )
        # Same definition and history: continue, writing only what differs.
        loaded = read_experiment(conn, experiment.name, self.registry)
        return _Tracked(
            experiment_id=found.id,
            experiment=experiment,
            snapshots=loaded.snapshots,
            strategy_state=loaded.strategy_state,
            last_batch=loaded.last_batch,
            lease_version=None,
        )

    def _write_strategy(
        self,
        conn: Connection,
        tracked: _Tracked,
        name: str,
        definition: dict[str, Any],
        state: dict[str, Any],
    ) -> None:
        values = {
            "name": name,
            "definition": definition,
            "state": state,
            "time_updated": utcnow(),
        }
        result = conn.execute(
            update(GenerationStrategyRow)
            .where(GenerationStrategyRow.experiment_id == tracked.experiment_id)
            .values(**values)
        )
        if result.rowcount == 0:
            conn.execute(
                insert(GenerationStrategyRow).values(experiment_id=tracked.experiment_id, **values)
            )

    def _write_trials(
        self,
        conn: Connection,
        tracked: _Tracked,
        trials: list[Trial],
        metadata_unchanged: bool = False,
    ) -> dict[int, Snapshot]:
        """INSERT new trials (and arms), UPDATE changed ones; returns new snapshots.

        Trials whose changes touch the same columns (a deploy's 200 STAGED
        trials, a poll's COMPLETED ones) share one executemany UPDATE.
        `metadata_unchanged` skips re-encoding the metadata of stored trials
        whose other columns are unchanged (just loaded: 100,000 trials resume
        faster); any other change re-checks the metadata too.
        """
        new_trials, new_arms, written = [], [], {}
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for trial in trials:
            old = tracked.snapshots.get(trial.index)
            if metadata_unchanged and old is not None and same_as_stored(trial, old):
                continue
            values = trial_values(trial)
            current = snapshot(values)
            if old is None:
                new_trials.append(
                    {"experiment_id": tracked.experiment_id, "trial_index": trial.index, **values}
                )
                new_arms.append(
                    {
                        "experiment_id": tracked.experiment_id,
                        "trial_index": trial.index,
                        "name": trial.arm.name,
                        "parameters": trial.arm.parameters,
                    }
                )
            else:
                changed = tuple(changed_columns(old, current))
                if not changed:
                    continue
                row = {f"new_{c}": values[c] for c in changed}
                updates.setdefault(changed, []).append({"index": trial.index, **row})
            written[trial.index] = current
        for columns, rows in updates.items():
            conn.execute(
                update(TrialRow)
                .where(
                    TrialRow.experiment_id == tracked.experiment_id,
                    TrialRow.trial_index == bindparam("index"),
                )
                .values({c: bindparam(f"new_{c}") for c in columns}),
                rows,
            )
        if new_trials:
            conn.execute(insert(TrialRow), new_trials)
            conn.execute(insert(ArmRow), new_arms)
        return written

    def _write_data(self, conn: Connection, tracked: _Tracked, data: Data | None) -> int:
        """INSERT the rows of `data` as a new batch; returns the batch number used."""
        if data is None or data.df.empty:
            return tracked.last_batch
        batch = tracked.last_batch + 1
        conn.execute(insert(DataRow), data_rows(data, tracked.experiment_id, batch))
        return batch

    @staticmethod
    def _unsaved_data(experiment: Experiment, tracked: _Tracked) -> Data | None:
        """Data of trials this store has not stored yet (a new experiment's own)."""
        indices = [i for i in experiment.trials if i not in tracked.snapshots]
        if not indices:
            return None
        return experiment.lookup_data(indices)
