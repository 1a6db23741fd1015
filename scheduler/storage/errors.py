"""Named storage errors: each says what happened and what to do about it."""

from __future__ import annotations

from scheduler.core.errors import BoSchedulerError


class StorageError(BoSchedulerError):
    """Base class of every error raised by `scheduler.storage`."""


class StorageConnectionError(StorageError, ConnectionError):
    """The database cannot be reached or opened (the URL is shown password-masked)."""


class StorageLockedError(StorageError):
    """A SQLite file stayed locked by another process for longer than the store waits."""


class SchemaError(StorageError):
    """The database schema does not match this version of bo-scheduler."""


class SchemaOutdatedError(SchemaError):
    """The database schema is older than the code: run `bo-scheduler db upgrade`."""


class SchemaTooNewError(SchemaError):
    """The database was migrated by a newer bo-scheduler than this one."""


class ExperimentNotFoundError(StorageError, LookupError):
    """No experiment of that name is stored."""


class ExperimentNameConflictError(StorageError, ValueError):
    """A different experiment is already stored under that name."""


class ExperimentLockedError(StorageError, RuntimeError):
    """Another live scheduler holds the experiment's lease."""


class StaleExperimentError(ExperimentLockedError):
    """Another scheduler ran the experiment since this in-memory copy was loaded."""


class UnregisteredClassError(StorageError, TypeError):
    """A Runner, Metric or function cannot be stored because it is not registered."""


class EncodingError(StorageError, TypeError):
    """A value meant for the database is not JSON-safe."""
