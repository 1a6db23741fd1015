"""Run the dashboard with uvicorn: in the foreground (`serve`) or in a thread.

`DashboardThread` is how tests and a daemon run it beside other work: it
starts uvicorn on a thread, waits until the socket is bound and reports the
port actually used (ask for port 0 to get a free one).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from scheduler.core.masking import mask_url
from scheduler.ops.dashboard.app import create_app
from scheduler.ops.dashboard.auth import AuthSettings, check_bind
from scheduler.ops.dashboard.fleet import AppFactory

logger = logging.getLogger(__name__)


def _server(
    url: str, host: str, port: int, auth: AuthSettings | None, fleet_app: AppFactory | None = None
) -> uvicorn.Server:
    auth = auth if auth is not None else AuthSettings.from_environ()
    check_bind(host, auth)
    app = create_app(url, auth) if fleet_app is None else create_app(url, auth, fleet_app=fleet_app)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    return uvicorn.Server(config)


def serve(
    url: str, host: str = "127.0.0.1", port: int = 8080, auth: AuthSettings | None = None
) -> None:
    """Serve the dashboard until interrupted; `auth` defaults to the environment's.

    Raises `UnsafeBindError` for a non-loopback `host` without credentials.
    """
    _server(url, host, port, auth).run()


class DashboardThread:
    """The dashboard served on a daemon thread; `port` is known once `start` returns."""

    def __init__(
        self,
        url: str,
        host: str = "127.0.0.1",
        port: int = 0,
        auth: AuthSettings | None = None,
        fleet_app: AppFactory | None = None,
    ) -> None:
        self.server = _server(url, host, port, auth, fleet_app)
        self.host = host
        self.port = port
        self._thread = threading.Thread(target=self.server.run, name="dashboard", daemon=True)

    def start(self, timeout: float = 10.0) -> DashboardThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        sockets = [s for server in self.server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


@contextmanager
def beside_daemon(url: str, host: str, port: int | None) -> Iterator[DashboardThread | None]:
    """The dashboard of `url` on `host:port` while the block runs (`run --dashboard-port`);
    nothing when `port` is None. Auth comes from the environment, as for `serve`."""
    if port is None:
        yield None
        return
    thread = DashboardThread(url, host, port).start()
    logger.info("dashboard of %s on %s/", mask_url(url), thread.url)
    try:
        yield thread
    finally:
        thread.stop()
