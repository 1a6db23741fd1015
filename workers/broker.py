"""kombu's Redis transport, hardened against queue entries that are not messages.

kombu pops a queue entry with BRPOP and decodes it as JSON; an entry that is
not JSON (written to the list by anything but a Celery client) raises out of
the worker's event loop as an "Unrecoverable error" and the worker exits.
Here such an entry is logged and dropped: it was already popped, so nothing
else is lost, and it never reaches the task layer, so nothing executes.

:func:`install` makes it kombu's transport for ``redis://`` and ``rediss://``
URLs (kombu's own alias table), rather than naming it in ``broker_transport``:
that setting would become the broker URL's scheme (``workers.broker:Transport://``)
for every tool that reads it, and Flower's Broker page and
``/api/queues/length`` only know ``redis://``.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


class Channel(kombu_redis.Channel):
    """A Redis channel that drops undecodable queue entries instead of crashing."""

    def _brpop_read(self, **options: Any) -> bool:
        try:
            return bool(super()._brpop_read(**options))
        except (ValueError, TypeError, KeyError) as exc:  # JSON, envelope shape
            logger.error(
                "dropped a queue entry that is not a valid message (%s: %s); "
                "only Celery clients should write to the broker's queues",
                type(exc).__name__,
                exc,
            )
            return True


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


#: kombu's aliases this transport takes over.
REDIS_ALIASES = ("redis", "rediss")


def install() -> None:
    """Resolve ``redis://`` and ``rediss://`` to :class:`Transport` in this process.

    Idempotent; called by ``workers.app`` before it builds an app on Redis.
    """
    path = f"{__name__}:{Transport.__name__}"
    for alias in REDIS_ALIASES:
        kombu_transport.TRANSPORT_ALIASES[alias] = path
