"""Fault scenarios: what each fault costs in lost and duplicated trials.

    python -m bench.faults [--only NAME ...]

Runs every scenario of ``tests/faults/scenarios/`` (real Redis servers of
its own, real ``celery worker`` processes, SQL storage; see
docs/reliability.md) and prints one row per scenario: trials lost (FAILED
because their task vanished), trials duplicated (task body ran more than
once, counted worker-side), and the outcome (``ok`` with the final statuses,
or ``FAIL`` with the broken guarantee). Needs redis-server, PostgreSQL's
server binaries and, for the cut-off scenario, root for ``ip netns``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.faults import scenarios
from tests.faults.harness import ScenarioResult

SCENARIOS: dict[str, Callable[[Path], ScenarioResult]] = {
    "worker_sigkill": scenarios.worker_sigkill,
    "redis_restart_persistent": scenarios.redis_restart_persistent,
    "redis_data_loss_restart": partial(scenarios.redis_data_loss, mode="restart"),
    "redis_data_loss_flushall": partial(scenarios.redis_data_loss, mode="flushall"),
    "scheduler_sigkill": scenarios.scheduler_sigkill,
    "postgres_restart": scenarios.postgres_restart,
    "worker_cut_off": scenarios.worker_cut_off,
    "misbehaving_objectives": scenarios.misbehaving_objectives,
    "malformed_messages": scenarios.malformed_messages,
}


def run(name: str, scenario: Callable[[Path], ScenarioResult]) -> tuple[str, str, str, str]:
    """One table row: scenario, trials lost, trials duplicated, outcome."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bo-faults-{name}-"))
    started = time.monotonic()
    try:
        result = scenario(workdir)
    except scenarios.NetnsUnavailable as exc:
        return name, "-", "-", f"skipped: {exc}"
    except BaseException as exc:  # a benchmark reports, it does not stop at the first error
        if isinstance(exc, KeyboardInterrupt):
            raise
        return name, "?", "?", f"ERROR {type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.monotonic() - started
    lost = f"{len(result.lost)} of {result.budget}"
    duplicated = f"{len(result.duplicated)} of {result.budget}"
    return result.name, lost, duplicated, f"{result.outcome} [{seconds:.0f} s]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    names = args.only or list(SCENARIOS)
    rows = []
    for name in names:
        print(f"running {name} ...", flush=True)
        rows.append(run(name, SCENARIOS[name]))
    print()
    print("| scenario | trials lost | trials duplicated | outcome |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")


if __name__ == "__main__":
    main()
