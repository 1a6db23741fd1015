"""The raw Redis client behind a Celery result backend, and how long its results live.

Keys the scheduler and the workers keep beside Celery's results (send markers,
claims) need a raw client for ``SET NX`` and the results' own lifetime.
"""

from __future__ import annotations

from typing import Any


def redis_client(backend: Any) -> Any:
    """The raw client of a Redis result backend; None for others (the embedded cache)."""
    return getattr(backend, "client", None) if hasattr(backend, "connparams") else None


def result_lifetime(backend: Any) -> int | None:
    """Seconds the backend keeps results (None: forever)."""
    expires = getattr(backend, "expires", None)
    return int(expires) if expires else None
