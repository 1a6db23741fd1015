"""Storage of experiments, trials, data and generation-strategy state in SQL.

`Scheduler(..., db_settings=DBSettings(url=...))` saves as it goes;
`Scheduler.from_stored_experiment(name, options, db_settings)` resumes.
SQLite (a file) by default, PostgreSQL in production: the same code for both.
"""

from scheduler.storage.errors import (
    EncodingError,
    ExperimentLockedError,
    ExperimentNameConflictError,
    ExperimentNotFoundError,
    SchemaError,
    SchemaOutdatedError,
    SchemaTooNewError,
    StaleExperimentError,
    StorageConnectionError,
    StorageError,
    StorageLockedError,
    UnregisteredClassError,
)
from scheduler.storage.registry import (
    Registry,
    RegistryBundle,
    register_function,
    register_metric,
    register_runner,
)
from scheduler.storage.settings import DBSettings
from scheduler.storage.sql.compat import (
    create_all_tables,
    get_engine,
    init_engine_and_session_factory,
)
from scheduler.storage.sql.reader import delete_experiment, list_experiments, load_experiment
from scheduler.storage.sql.store import SQLStore
from scheduler.storage.store import ExperimentStore, NullStore

__all__ = [
    "DBSettings",
    "EncodingError",
    "ExperimentLockedError",
    "ExperimentNameConflictError",
    "ExperimentNotFoundError",
    "ExperimentStore",
    "NullStore",
    "Registry",
    "RegistryBundle",
    "SQLStore",
    "SchemaError",
    "SchemaOutdatedError",
    "SchemaTooNewError",
    "StaleExperimentError",
    "StorageConnectionError",
    "StorageError",
    "StorageLockedError",
    "UnregisteredClassError",
    "create_all_tables",
    "delete_experiment",
    "get_engine",
    "init_engine_and_session_factory",
    "list_experiments",
    "load_experiment",
    "register_function",
    "register_metric",
    "register_runner",
]
