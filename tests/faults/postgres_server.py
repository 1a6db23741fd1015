"""A private PostgreSQL cluster on its own port, for the database-restart scenario.

The machine's PostgreSQL (5432) is shared and must never be restarted. This
one is ``initdb``-ed in a temporary directory, listens on 127.0.0.1 and a
free port with trust authentication, and is restarted at will. PostgreSQL
refuses to run as root, so as root the cluster belongs to the ``postgres``
user (``runuser -u postgres --``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.faults.redis_server import free_port, wait_for_port
from tests.support.services import service_unavailable

START_HINT = "apt-get install postgresql (its initdb and pg_ctl under /usr/lib/postgresql/*/bin)"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        service_unavailable(f"PostgreSQL server binaries not found; {START_HINT}")
    return Path(found[-1]).parent


def _as_owner() -> list[str]:
    """Command prefix that runs a PostgreSQL binary as a non-root user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        service_unavailable("running as root and there is no 'postgres' user to own the cluster")
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PostgresServer:
    """One private cluster: ``start``, ``stop``, ``restart``."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        command = [*_as_owner(), str(_bin_dir() / "pg_ctl"), "-D", str(self.directory / "data")]
        subprocess.run(
            [*command, "-l", str(self.directory / "postgres.log"), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-w", "start")
        if not wait_for_port("127.0.0.1", self.port, 30):
            service_unavailable(f"private PostgreSQL did not listen on port {self.port}")

    def stop(self, mode: str = "fast") -> None:
        """Stop (``fast``: disconnect clients and shut down cleanly; ``immediate``: crash)."""
        self._pg_ctl("-m", mode, "-w", "stop")

    def log(self) -> str:
        path = self.directory / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """initdb a cluster in a temp directory, start it, and remove it afterwards."""
    if shutil.which("runuser") is None and os.geteuid() == 0:
        service_unavailable("runuser not found (util-linux): cannot run PostgreSQL as non-root")
    directory = Path(tempfile.mkdtemp(prefix="bo-pg-"))
    owner = _as_owner()
    if owner:
        shutil.chown(directory, "postgres", "postgres")
    directory.chmod(0o700)
    server = PostgresServer(directory, free_port())
    try:
        initdb = [*owner, str(_bin_dir() / "initdb"), "-D", str(directory / "data")]
        subprocess.run(
            [*initdb, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server.start()
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        service_unavailable(
            f"could not run a private PostgreSQL: {exc.cmd[-1]} said "
            f"{exc.stderr.decode(errors='replace')[-500:]}; {START_HINT}"
        )
    try:
        yield server
    finally:
        with suppress(Exception):  # already down
            server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
