"""The tutorial's set-up calls, for users following it with our imports.

None of this is needed: a `Scheduler` given `db_settings` creates the schema
of a new database by itself. These keep the tutorial's lines working:

    init_engine_and_session_factory(url=db_settings.url)
    engine = get_engine()
    create_all_tables(engine)
"""

from __future__ import annotations

from sqlalchemy import Engine

from scheduler.storage.settings import default_url
from scheduler.storage.sql import engine as engines
from scheduler.storage.sql.migrate import upgrade

_url: str | None = None


def init_engine_and_session_factory(url: str | None = None, echo: bool = False) -> None:
    """Remember `url` (default: $BO_DATABASE_URL or a local SQLite file) for `get_engine`."""
    global _url
    _url = url or default_url()
    engines.get_engine(_url, echo)


def get_engine() -> Engine:
    """The engine of the URL given to `init_engine_and_session_factory`."""
    return engines.get_engine(_url or default_url())


def create_all_tables(engine: Engine | None = None) -> None:
    """Bring the schema up to date by running the migrations (idempotent)."""
    upgrade(engine or get_engine())
