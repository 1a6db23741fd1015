"""What several fault scenarios look up: pool pids of running trials, a log's last line."""

from __future__ import annotations

from pathlib import Path

from tests.faults.fault_objectives import executions, finished, start_pids
from tests.faults.harness import Worker


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` (a fault thread's traceback: its error)."""
    return text.strip().splitlines()[-1]


def parent_pid(pid: int) -> int | None:
    """The parent of ``pid`` (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def running_on(count_dir: Path, worker: Worker) -> list[tuple[int, int]]:
    """(trial index, pool pid) of unfinished task bodies running in ``worker``'s pool."""
    done = finished(count_dir)
    found = []
    for index, runs in executions(count_dir).items():
        if done.get(index, 0) >= runs:
            continue
        pid = start_pids(count_dir, index)[-1]
        if parent_pid(pid) == worker.pid:
            found.append((index, pid))
    return found
