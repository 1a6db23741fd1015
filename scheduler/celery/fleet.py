"""What the worker fleet says about itself, through Celery's remote control (inspect).

Inspection is a broadcast answered by every live worker within a timeout; it
is a view of the moment, never a source of truth for trials (their states
live in the result backend).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

#: How long an inspect broadcast waits for the workers' replies.
INSPECT_TIMEOUT_SECONDS = 0.5


def free_slots(app: Any, timeout: float = INSPECT_TIMEOUT_SECONDS) -> int:
    """Worker processes not running or holding a task, or -1 when no worker answers."""
    try:
        inspect = app.control.inspect(timeout=timeout)
        stats = inspect.stats() or {}
        if not stats:
            return -1
        slots = sum(int(s.get("pool", {}).get("max-concurrency", 0)) for s in stats.values())
        busy = sum(len(v) for v in (inspect.active() or {}).values())
        busy += sum(len(v) for v in (inspect.reserved() or {}).values())
        return max(0, slots - busy)
    except Exception:
        logger.warning("could not inspect workers for capacity", exc_info=True)
        return -1
