"""A private ``redis-server`` for fault scenarios: its own port, its own directory.

The machine's Redis (6379) is shared and must never be restarted or flushed;
a scenario that restarts, flushes or kills Redis starts one of these instead.
Optionally append-only (``appendfsync always``: a restart loses nothing),
password-protected, TLS-only, and bound to extra addresses (e.g. the host end
of a veth pair, so a worker in a network namespace can reach it).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.services import service_unavailable


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    """Whether a TCP connect to ``host:port`` succeeds within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


@dataclass
class TLSFiles:
    """A throwaway CA and a server certificate signed by it (for 127.0.0.1)."""

    ca_cert: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TLSFiles:
    """Create a CA and a server certificate for 127.0.0.1/localhost with ``openssl``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        service_unavailable("openssl not installed: apt-get install openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    commands = [
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj"],
        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key)],
    ]
    commands[0] += ["/CN=bo-test-ca", "-keyout", str(ca_key), "-out", str(ca_cert)]
    commands[1] += ["-keyout", str(key), "-out", str(csr)]
    commands[2] += ["-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert)]
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)
    return TLSFiles(ca_cert, cert, key)


@dataclass
class RedisServer:
    """One ``redis-server`` process the test owns (start, restart, flush, kill)."""

    directory: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = False
    password: str | None = None
    tls: TLSFiles | None = None
    bind: Sequence[str] = ("127.0.0.1",)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return self.bind[0]

    def url(self, db: int = 0, host: str | None = None) -> str:
        """``redis://[:password@]host:port/db`` (``rediss://`` with TLS, verifying the CA)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        url = f"{scheme}://{auth}{host or self.host}:{self.port}/{db}"
        if self.tls:
            url += f"?ssl_cert_reqs=required&ssl_ca_certs={self.tls.ca_cert}"
        return url

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            service_unavailable("redis-server is not installed: apt-get install redis-server")
        command = [binary, "--bind", *self.bind, "--dir", str(self.directory)]
        command += ["--save", "", "--maxmemory-policy", "noeviction", "--protected-mode", "no"]
        command += ["--logfile", str(self.directory / "redis.log")]
        if self.appendonly:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        if self.password:
            command += ["--requirepass", self.password]
        if self.tls:
            command += ["--port", "0", "--tls-port", str(self.port)]
            command += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            command += ["--tls-ca-cert-file", str(self.tls.ca_cert), "--tls-auth-clients", "no"]
        else:
            command += ["--port", str(self.port)]
        return command

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (again) on the same port and directory; wait until it listens."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_for_port(self.host, self.port, timeout):
            self.kill()
            service_unavailable(
                f"a private redis-server did not start on port {self.port}; its log:\n"
                + self.log()[-2000:]
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # loading the append-only file
            with suppress(Exception):
                if self.client().ping():
                    return
            time.sleep(0.02)

    def client(self, db: int = 0) -> Any:
        """A redis-py client of this server."""
        import redis

        return redis.Redis.from_url(self.url(db), socket_timeout=5)

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM: an append-only server syncs its file first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: whatever was not on disk is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, downtime: float = 0.0, wipe: bool = False) -> None:
        """Stop, stay down ``downtime`` seconds, start again (``wipe``: delete its files)."""
        self.stop()
        if wipe:
            for path in self.directory.iterdir():
                if path.name != "redis.log":
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
        time.sleep(downtime)
        self.start()

    def flushall(self) -> None:
        """Lose every key of every database, the server staying up."""
        self.client().flushall()

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def redis_server(
    appendonly: bool = False,
    password: str | None = None,
    tls: bool = False,
    bind: Sequence[str] = ("127.0.0.1",),
    directory: Path | None = None,
) -> Iterator[RedisServer]:
    """A started private Redis, killed (and its directory removed) afterwards."""
    owned = directory is None
    base = Path(tempfile.mkdtemp(prefix="bo-redis-")) if directory is None else directory
    tls_files = make_tls_files(base / "tls") if tls else None
    server = RedisServer(
        base / "data", appendonly=appendonly, password=password, tls=tls_files, bind=bind
    )
    server.start()
    try:
        yield server
    finally:
        server.kill()
        if owned:
            shutil.rmtree(base, ignore_errors=True)
