"""A TCP proxy in front of Redis that can swallow the reply to one command.

This is what a Redis restart does to a client caught mid-command: Redis has
executed (and, with an append-only file, stored) the command, but the
connection closes before the reply arrives, so the client cannot tell
whether it went through. Here it happens on cue: after :meth:`ReplyCutter.arm`,
the first connection that sends a command containing the armed bytes gets its
command forwarded, and then, instead of the reply, a closed socket; after
:meth:`ReplyCutter.arm_reply`, the first reply containing the armed bytes (a
BRPOP handing out a given message) is swallowed the same way.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class _Trigger:
    """Bytes to watch for; fires on the first chunk containing them, then disarms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: bytes | None = None

    def arm(self, watched: bytes) -> None:
        with self._lock:
            self._watched = watched

    def fires_on(self, chunk: bytes) -> bool:
        with self._lock:
            if self._watched is None or self._watched not in chunk:
                return False
            self._watched = None
            return True


class ReplyCutter:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``; cuts one reply when armed."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._command = _Trigger()  # cut the reply to this command
        self._reply = _Trigger()  # cut the reply containing this
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def arm(self, command: bytes) -> None:
        """Swallow the reply to the next command whose bytes contain ``command``."""
        self.cut.clear()
        self._command.arm(command)

    def arm_reply(self, containing: bytes) -> None:
        """Swallow the next reply whose bytes contain ``containing``."""
        self.cut.clear()
        self._reply.arm(containing)

    def close(self) -> None:
        with suppress(OSError):
            self._listener.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            doomed = threading.Event()  # set once this connection's reply is to be cut
            threading.Thread(target=self._requests, args=(client, upstream, doomed)).start()
            threading.Thread(target=self._replies, args=(upstream, client, doomed)).start()

    def _requests(
        self, client: socket.socket, upstream: socket.socket, doomed: threading.Event
    ) -> None:
        with suppress(OSError):
            while chunk := client.recv(65536):
                if self._command.fires_on(chunk):
                    doomed.set()
                upstream.sendall(chunk)
        _close(client, upstream)

    def _replies(
        self, upstream: socket.socket, client: socket.socket, doomed: threading.Event
    ) -> None:
        with suppress(OSError):
            while chunk := upstream.recv(65536):
                if doomed.is_set() or self._reply.fires_on(chunk):
                    # Redis has answered, so it executed the command
                    self.cut.set()
                    break
                client.sendall(chunk)
        _close(client, upstream)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with suppress(OSError):
            sock.close()


@contextmanager
def reply_cutter(upstream_port: int) -> Iterator[ReplyCutter]:
    proxy = ReplyCutter(upstream_port)
    try:
        yield proxy
    finally:
        proxy.close()
