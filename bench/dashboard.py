"""Server time of the experiment page's API calls for 100, 1,000 and 10,000 trials.

One page refresh asks `/api/experiments/NAME`, `/trials` and `/plots`. The
first call loads the experiment from SQLite (cold: `ttl=0` forces a
load for every call, the worst case; warm: the 1 s cache a refresh shares); each figure
is then built from the loaded `TrialTable`. Times are measured in-process
with Starlette's TestClient (no network), best of 3.

    PYTHONPATH=$PWD python bench/dashboard.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from scheduler.ops.dashboard import create_app
from tests.dashboard.experiments import seed_trials

CALLS = ["", "/trials", "/plots"]


def main() -> None:
    print(f"{'trials':>7}  " + "  ".join(f"{c or '(summary)':>10}" for c in CALLS) + "      total")
    for n in (100, 1_000, 10_000):
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'bench.db'}"
            seed_trials(url, n, name="bench", steps=0)
            for ttl, label in ((0.0, "cold"), (60.0, "warm")):
                _measure(url, n, ttl, label)


def _measure(url: str, n: int, ttl: float, label: str) -> None:
    client = TestClient(create_app(url, ttl=ttl))
    client.get("/api/experiments/bench")  # warm: loaded once, then reused
    times = []
    for call in CALLS:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            response = client.get(f"/api/experiments/bench{call}")
            best = min(best, time.perf_counter() - start)
            assert response.status_code == 200
        times.append(best)
    row = "  ".join(f"{t:>9.3f}s" for t in times)
    print(f"{n:>7} {label}  {row}  {sum(times):>9.3f}s")


if __name__ == "__main__":
    main()
