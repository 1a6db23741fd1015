"""Server time of the experiment page's API calls for 100, 1,000 and 10,000 trials.

One page refresh asks `/api/experiments/NAME`, `/trials` and `/plots`; they
share one look at the database (`ExperimentCache`, `ttl`). Printed per size,
the three calls' total for:

- first: the first refresh, which loads the experiment whole;
- same: a refresh when nothing changed (a few small queries);
- after poll: a refresh after a daemon's poll stored one more finished trial
  with its data: only the change is read, then the table and figures rebuilt.

Target (issue 15): under 0.5 s at 10,000 trials for a refresh, growing no
worse than linearly. Measured in-process with Starlette's TestClient (no
network), best of 3.

    PYTHONPATH=$PWD python bench/dashboard.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from scheduler import Data
from scheduler.ops.dashboard import create_app
from scheduler.storage import DBSettings, SQLStore
from tests.dashboard.experiments import seed_trials

CALLS = ["", "/trials", "/plots"]


def main() -> None:
    print(f"{'trials':>7}  {'first':>9}  {'same':>9}  {'after poll':>10}   (seconds, 3 calls)")
    for n in (100, 1_000, 10_000):
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'bench.db'}"
            seed_trials(url, n, name="bench", steps=0)
            client = TestClient(create_app(url, ttl=0.0))  # every call looks again
            first = _refresh(client)
            same = min(_refresh(client) for _ in range(3))
            after = min(_after_a_poll(url, client) for _ in range(3))
            print(f"{n:>7}  {first:>9.3f}  {same:>9.3f}  {after:>10.3f}")


def _refresh(client: TestClient) -> float:
    start = time.perf_counter()
    for call in CALLS:
        assert client.get(f"/api/experiments/bench{call}").status_code == 200
    return time.perf_counter() - start


def _after_a_poll(url: str, client: TestClient) -> float:
    """Store one more finished trial with its data, as a daemon's poll does; time a refresh."""
    store = SQLStore(DBSettings(url=url))
    experiment, strategy = store.load_experiment("bench")
    assert strategy is not None
    store.heartbeat(experiment)
    trial = experiment.new_trial({"x1": 1.0, "x2": 2.0}, generation_step="BoTorch")
    store.save_new_trials(experiment, [trial], strategy)
    trial.mark_staged()
    trial.mark_running()
    data = Data.from_evaluations({"branin": (5.0, 0.0)}, trial.index, trial.arm.name)
    experiment.attach_data(data)
    store.save_data(experiment, data)
    trial.mark_completed()
    store.save_trials(experiment, [trial])
    store.release(experiment)
    return _refresh(client)


if __name__ == "__main__":
    main()
