"""`DBSettings`: where experiments are stored and how runners/metrics are named."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from scheduler.storage.errors import StorageError
from scheduler.storage.registry import DEFAULT_REGISTRY, Registry, RegistryBundle

#: Environment variable holding the database URL (twelve-factor configuration).
DATABASE_URL_ENV = "BO_DATABASE_URL"
#: Used when neither `url` nor the environment names a database: a local file.
DEFAULT_URL = "sqlite:///bo-scheduler.db"


def default_url() -> str:
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_URL


def new_owner_id() -> str:
    """Who holds a lease: host and pid for operators, plus a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class DBSettings:
    """Database URL plus storage options.

    Attributes:
        url: SQLAlchemy URL, e.g. `sqlite:///bo.db` or
            `postgresql+psycopg2://user:pw@host/db`; defaults to
            `$BO_DATABASE_URL`, else `sqlite:///bo-scheduler.db`.
        registry: classes allowed in storage beyond the defaults; a `Registry`
            or a `RegistryBundle`. `encoder`/`decoder` are accepted for the
            tutorial's `DBSettings(url, encoder=bundle.encoder, decoder=bundle.decoder)`.
        lease_timeout_seconds: a scheduler silent for this long is presumed
            dead and another may take the experiment over. Keep it above
            `SchedulerOptions.max_seconds_between_polls`.
        owner_id: identifies this scheduler in the lease row (default: host,
            pid and a random suffix, unique per store).
        echo: log every SQL statement (debugging).
    """

    url: str = field(default_factory=default_url)
    encoder: Registry | RegistryBundle | None = None
    decoder: Registry | RegistryBundle | None = None
    registry: Registry | RegistryBundle | None = None
    lease_timeout_seconds: float = 60.0
    owner_id: str | None = None
    echo: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise StorageError(
                "DBSettings.url must be a database URL such as 'sqlite:///bo.db' or "
                f"'postgresql://user@host/db', got {self.url!r}."
            )
        if not self.lease_timeout_seconds > 0:
            raise StorageError(
                f"DBSettings.lease_timeout_seconds={self.lease_timeout_seconds!r}; use a "
                "positive number of seconds (default 60)."
            )

    @property
    def resolved_registry(self) -> Registry:
        """The registry to use: `registry`, else `encoder`, else `decoder`, else default."""
        for candidate in (self.registry, self.encoder, self.decoder):
            if isinstance(candidate, RegistryBundle):
                return candidate.registry
            if isinstance(candidate, Registry):
                return candidate
        return DEFAULT_REGISTRY


def as_settings(db_settings: DBSettings | str | None) -> DBSettings:
    """`db_settings` as `DBSettings`: None is the default, a string is a URL."""
    if db_settings is None:
        return DBSettings()
    if isinstance(db_settings, str):
        return DBSettings(url=db_settings)
    if not isinstance(db_settings, DBSettings):
        raise StorageError(
            f"db_settings must be a DBSettings (or a URL string), got {type(db_settings).__name__}."
        )
    return db_settings
