"""Two threads of one process opening a new database at once (a daemon and its dashboard)."""

from __future__ import annotations

import threading
from pathlib import Path

from scheduler.storage.sql.engine import dispose_engines
from scheduler.storage.sql.migrate import checked_engine, head_revision, schema_status


def test_threads_creating_the_schema_together_take_turns(tmp_path: Path) -> None:
    dispose_engines()
    urls = [f"sqlite:///{tmp_path / f'bo{i}.db'}" for i in range(5)]
    errors: list[BaseException] = []
    for url in urls:  # each a fresh file that eight threads open at the same moment
        start = threading.Barrier(8)

        def open_it(url: str = url, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                checked_engine(url)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert schema_status(checked_engine(url)) == (head_revision(), head_revision())
    dispose_engines()
    assert errors == []
