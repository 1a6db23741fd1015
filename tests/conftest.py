"""Shared test setup: `tests.support` importable everywhere, a private Redis fixture."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from tests.support.services import PrivateRedis, private_redis  # noqa: E402


@pytest.fixture(scope="module")
def redis_db() -> Iterator[PrivateRedis]:
    """A Redis database of this module's own, flushed afterwards."""
    with private_redis() as db:
        yield db
