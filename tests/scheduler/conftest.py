"""Fixtures shared by the Scheduler tests (see fake_queue.py for the fakes)."""

from __future__ import annotations

import pytest

import scheduler.core.trial as trial_module
import scheduler.launching as launching_module
import scheduler.scheduler as scheduler_module
from tests.scheduler.fake_queue import FakeClock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock for the scheduler's deadlines, poll waits and trial TTLs."""
    fake = FakeClock()
    monkeypatch.setattr(scheduler_module, "time", fake)
    monkeypatch.setattr(launching_module, "time", fake)
    monkeypatch.setattr(trial_module, "utcnow", fake.utcnow)
    return fake
