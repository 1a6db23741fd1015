"""What the worker fleet says about itself, through Celery's remote control (inspect).

Inspection is a broadcast answered by every live worker within a timeout; it
is a view of the moment, never a source of truth for trials (their states
live in the result backend). Three uses:

- :func:`check_fleet_objective`, before the first trial is sent: refuses an
  objective no worker has (with "did you mean ..."), so a typo costs no
  trial, and names the workers that lack it;
- :func:`free_slots`, the runner's capacity: pool slots of the workers that
  consume the trials' queue;
- :func:`fleet_workers`, what ``bo-scheduler workers`` lists.

Workers answer :data:`~workers.protocol.OBJECTIVES_COMMAND` (``workers.control``).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduler.core.errors import BoSchedulerError
from workers.protocol import OBJECTIVES_COMMAND, objective_queue

logger = logging.getLogger(__name__)

#: How long an inspect broadcast waits for the workers' replies.
INSPECT_TIMEOUT_SECONDS = 0.5
#: The preflight waits longer: a slow reply must not pass for a missing worker.
PREFLIGHT_TIMEOUT_SECONDS = 1.0


class UnknownFleetObjectiveError(BoSchedulerError):
    """No worker that answered has the experiment's objective; nothing was sent."""


@dataclass(frozen=True)
class RunningTrial:
    """A trial task a worker holds: running (active) or waiting in its pool (reserved)."""

    task_id: str
    trial_index: int | None
    objective: str | None
    state: str  # "active" or "reserved"


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as it answered: objectives, queues, pool size and trials."""

    hostname: str
    objectives: list[str] | None
    queues: list[str]
    concurrency: int | None
    trials: list[RunningTrial] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``bo-scheduler workers --json``)."""
        return {
            "hostname": self.hostname,
            "objectives": self.objectives,
            "queues": self.queues,
            "concurrency": self.concurrency,
            "trials": [vars(t) for t in self.trials],
        }


def worker_objectives(
    app: Any, timeout: float = INSPECT_TIMEOUT_SECONDS, rounds: int = 2
) -> dict[str, Any]:
    """``{hostname: answer}`` of every worker that answered ``bo_objectives``.

    A worker's reply sometimes misses one broadcast's timeout, so the answers
    of `rounds` broadcasts are merged (the latest per worker), plus one more
    round while a round still found a new worker.
    """
    found: dict[str, Any] = {}
    remaining = rounds
    while remaining > 0:
        before = len(found)
        replies = app.control.broadcast(OBJECTIVES_COMMAND, reply=True, timeout=timeout) or []
        for reply in replies:
            for hostname, answer in reply.items():
                if isinstance(answer, dict) and "objectives" in answer:
                    found[hostname] = answer
        remaining -= 1
        if remaining == 0 and len(found) > before and before > 0:
            remaining = 1  # the last round still found someone: ask once more
    return found


def check_fleet_objective(
    app: Any,
    objective: str,
    queue: str | None = None,
    timeout: float = PREFLIGHT_TIMEOUT_SECONDS,
) -> list[str]:
    """Refuse `objective` unless a worker has it; return the workers that do.

    Raises :class:`UnknownFleetObjectiveError` ("did you mean ...") when
    workers answered and none has `objective`. With no worker answering it
    only warns: trials wait in their queue until a worker that has the
    objective starts. Workers lacking it are named in a warning (they never
    take its trials: those go to its own queue). `queue` is the queue the
    trials are sent to; one configured explicitly is only reported.
    """
    try:
        answers = worker_objectives(app, timeout)
    except Exception as exc:  # an unreachable broker was checked before; be lenient here
        logger.warning("could not ask the workers which objectives they have: %s", exc)
        return []
    if not answers:
        logger.warning(
            "no worker answered; trials of objective %r wait in queue %r until a worker "
            "that has it starts (bo-scheduler worker --objectives MODULE)",
            objective,
            queue or objective_queue(objective),
        )
        return []
    having = sorted(h for h, a in answers.items() if objective in (a.get("objectives") or []))
    lacking = sorted(set(answers) - set(having))
    if not having:
        known = sorted({name for a in answers.values() for name in a.get("objectives") or []})
        close = difflib.get_close_matches(objective, known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UnknownFleetObjectiveError(
            f"no worker has objective {objective!r} ({len(answers)} answered; their objectives: "
            f"{', '.join(known) or 'none'}); {hint}fix objective_function.name in the config, "
            "or start workers that load the module registering it: "
            "bo-scheduler worker --objectives MODULE"
        )
    if lacking:
        logger.warning(
            "worker(s) %s lack objective %r and take none of its trials; "
            "add its module to their --objectives (BO_OBJECTIVE_MODULES)",
            ", ".join(lacking),
            objective,
        )
    if queue is not None and queue != objective_queue(objective):
        logger.info("trials of %r go to the configured queue %r", objective, queue)
    return having


def free_slots(app: Any, queue: str | None = None, timeout: float = INSPECT_TIMEOUT_SECONDS) -> int:
    """Pool slots not running or holding a task, on the workers consuming `queue`
    (every worker when None), or -1 when none of them answers."""
    try:
        workers = [
            w
            for w in fleet_workers(app, timeout)
            if w.objectives is not None and (queue is None or queue in w.queues)
        ]
    except Exception:
        logger.warning("could not inspect workers for capacity", exc_info=True)
        return -1
    if not workers:
        return -1
    return sum(max(0, (w.concurrency or 0) - len(w.trials)) for w in workers)


def _trial(task: Any, state: str) -> RunningTrial:
    task = task if isinstance(task, dict) else {}
    index, objective = task.get("trial_index"), task.get("objective")
    return RunningTrial(
        task_id=str(task.get("task_id")),
        trial_index=index if isinstance(index, int) else None,
        objective=objective if isinstance(objective, str) else None,
        state=state,
    )


def fleet_workers(app: Any, timeout: float = INSPECT_TIMEOUT_SECONDS) -> list[WorkerInfo]:
    """Every bo-scheduler worker that answers, with objectives, queues, pool size, trials."""
    workers = []
    for hostname, answer in sorted(worker_objectives(app, timeout).items()):
        concurrency = answer.get("concurrency")
        trials = [_trial(t, "active") for t in answer.get("active") or []]
        trials += [_trial(t, "reserved") for t in answer.get("reserved") or []]
        workers.append(
            WorkerInfo(
                hostname=hostname,
                objectives=list(answer.get("objectives") or []),
                queues=sorted(str(q) for q in answer.get("queues") or []),
                concurrency=concurrency if isinstance(concurrency, int) else None,
                trials=trials,
            )
        )
    return workers


def queue_lengths(app: Any, queues: Sequence[str]) -> dict[str, int]:
    """Messages waiting in each of `queues` on a Redis broker (one pipelined round trip);
    empty for a broker that is not Redis."""
    if not queues:
        return {}
    with app.connection_for_read() as connection:
        client = getattr(connection.default_channel, "client", None)
        if client is None:
            return {}
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(queue)
            lengths = pipe.execute()
    return {queue: int(n) for queue, n in zip(queues, lengths, strict=True)}
