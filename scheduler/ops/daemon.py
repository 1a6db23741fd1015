"""The long-running scheduler process behind `bo-scheduler run` and `resume`.

`run_daemon` runs an experiment to its budget and stops cleanly when told
to: SIGTERM or SIGINT (a second one during an embedded drain exits at once),
or a `bo-scheduler stop NAME` request noticed in the database. Stopping
calls `Scheduler.request_stop`, so the loop finishes its iteration with
everything saved; trials still out on a fleet keep running and are picked up
by `bo-scheduler resume NAME`. In embedded mode the trials run inside this
process, so it first waits for them (the drain) to lose none.

The daemon watches the loop through listeners (`scheduler.listeners`): the
Prometheus exporter and the progress bar; it never patches the loop.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

import click

from scheduler.core.masking import mask_secrets
from scheduler.listeners import SchedulerListener
from scheduler.ops.metrics_exporter import SchedulerMetrics
from scheduler.scheduler import Scheduler
from scheduler.storage.sql.control import ControlStore

logger = logging.getLogger("scheduler.ops.daemon")

#: How long an embedded daemon waits, after a stop, for its in-process trials.
DEFAULT_DRAIN_SECONDS = 120.0


@dataclass
class DaemonResult:
    """How a daemon run ended."""

    summary: dict[str, Any]
    stopped: bool
    stop_reason: str | None
    budget_reached: bool
    trials_out: int = 0
    drained: bool = False
    interrupted: bool = False  # stopped by SIGINT (Ctrl-C): the CLI exits 130
    extra: dict[str, Any] = field(default_factory=dict)


class _StopState:
    """Stop requests from signals and from the database, shared with the loop."""

    def __init__(self, scheduler: Scheduler, metrics: SchedulerMetrics | None) -> None:
        self.scheduler = scheduler
        self.metrics = metrics
        self.reason: str | None = None
        self.signals = 0
        self.interrupted = False
        self.draining = False

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        first = self.reason is None
        self.reason = self.reason or reason
        if self.metrics is not None:
            self.metrics.mark_stop_requested()
        if first:
            logger.warning("stopping: %s; finishing this iteration, saving everything", reason)
        self.scheduler.request_stop(reason)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        self.interrupted = self.interrupted or signum == signal.SIGINT
        name = signal.Signals(signum).name
        if self.signals > 1 and self.draining:
            logger.warning("%s again: not waiting for in-process trials any longer", name)
        self.request(f"received {name}")


class StopGroup:
    """The daemons of several experiments in one process, stopped together by a signal.

    Signal handlers belong to the main thread, while each experiment's daemon
    runs on a thread of its own: the main thread routes SIGTERM and SIGINT
    here (`signal_handlers(group)`), and the group passes them to every
    experiment's stop state, including one that joins after the signal came.
    """

    def __init__(self) -> None:
        self._states: list[_StopState] = []
        self._seen: list[int] = []
        self._lock = threading.Lock()

    def add(self, state: _StopState) -> None:
        with self._lock:
            self._states.append(state)
            seen = list(self._seen)
        for signum in seen:
            state.on_signal(signum, None)

    def remove(self, state: _StopState) -> None:
        with self._lock:
            if state in self._states:
                self._states.remove(state)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        with self._lock:
            self._seen.append(signum)
            states = list(self._states)
        for state in states:
            state.on_signal(signum, frame)


class _SignalTarget(Protocol):
    def on_signal(self, signum: int, frame: FrameType | None) -> None: ...


@contextmanager
def signal_handlers(state: _SignalTarget) -> Iterator[None]:
    """Route SIGTERM and SIGINT to `state` while the daemon runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, state.on_signal)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _StopRequests(SchedulerListener):
    """`bo-scheduler stop NAME` requests, read from the control table.

    A background thread looks every `every` seconds, so a loop asleep between
    polls wakes at once; and every poll looks once more before the loop may
    launch trials, so nothing is deployed after a request already recorded.
    A daemon notes the counter when it starts: a request made while no daemon
    ran does not stop the next one.
    """

    def __init__(self, state: _StopState, control: ControlStore, name: str) -> None:
        self.state, self.control, self.name = state, control, name
        self.baseline = control.stop_counter(name)
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Turn a new stop request into `state.request`; True once one was seen."""
        with self._lock:
            if self.state.requested:
                return True
            try:
                if self.control.stop_counter(self.name) <= self.baseline:
                    return False
                reason, by = self.control.stop_request(self.name)
            except Exception:
                logger.warning("could not check for stop requests", exc_info=True)
                return False
            self.state.request(f"{reason or 'stop requested'} (by {by})")
            return True

    def on_poll(self, scheduler: Scheduler, seconds: float) -> None:
        self.check()


@contextmanager
def _stop_watcher(
    state: _StopState, control: ControlStore | None, name: str, every: float
) -> Iterator[None]:
    """Watch the control table for `bo-scheduler stop NAME` (see `_StopRequests`)."""
    if control is None:
        yield
        return
    requests = _StopRequests(state, control, name)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(every) and not requests.check():
            pass

    state.scheduler.listeners.append(requests)
    thread = threading.Thread(target=watch, name="bo-stop-watcher", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)
        state.scheduler.listeners.remove(requests)


class _Progress(SchedulerListener):
    """A progress bar on stderr: finished trials out of the budget, and the best value."""

    def __init__(self, scheduler: Scheduler, total: int) -> None:
        self.total = total
        self.done = 0
        self.bar: Any = click.progressbar(
            length=total,
            label=scheduler.experiment.name,
            file=sys.stderr,
            show_pos=True,
            show_eta=False,
            item_show_func=lambda text: text,
        )
        self.bar.__enter__()
        self.update(scheduler)

    def on_poll(self, scheduler: Scheduler, seconds: float) -> None:
        self.update(scheduler)

    def update(self, scheduler: Scheduler) -> None:
        finished = sum(t.status.is_terminal for t in scheduler.experiment.trials.values())
        best = scheduler.get_best_trial()
        text = None
        if best is not None and scheduler.experiment.optimization_config is not None:
            metric = scheduler.experiment.optimization_config.objectives[0].metric.name
            text = f"best {metric}={best[2][metric]:.6g}"
        step = max(0, min(finished, self.total) - self.done)
        self.done += step
        self.bar.update(step, text)

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


def run_daemon(
    scheduler: Scheduler,
    total_trials: int,
    *,
    metrics: SchedulerMetrics | None = None,
    timeout_hours: float | None = None,
    control: ControlStore | None = None,
    stop_check_seconds: float = 2.0,
    embedded: bool = False,
    drain_seconds: float = DEFAULT_DRAIN_SECONDS,
    show_progress: bool = False,
    stop_group: StopGroup | None = None,
) -> DaemonResult:
    """Run `scheduler`'s experiment until it has `total_trials` trials, or until stopped.

    `metrics` (a listener) is given the budget and the final counts; pass it in
    the scheduler's `listeners` too for the poll and generation latencies.
    With a `stop_group` (one of several experiments in a shared daemon) the
    signals come from the group, whose handlers the main thread installed.
    Raises what the loop raises (e.g. `FailureRateExceededError`) after
    restoring the signal handlers.
    """
    name = scheduler.experiment.name
    state = _StopState(scheduler, metrics)
    if metrics is not None:
        metrics.set_budget(total_trials)
        metrics.update_from(scheduler.experiment)
    progress = _Progress(scheduler, total_trials) if show_progress else None
    if progress is not None:
        scheduler.listeners.append(progress)
    drained = False
    try:
        with _stops(state, stop_group), _stop_watcher(state, control, name, stop_check_seconds):
            # Candidates already stored are deployed first and count as this run's
            # trials (Ax's rule), so they are part of what is left to run.
            candidates = len(scheduler.candidate_trials)
            remaining = max(0, total_trials - scheduler.experiment.num_trials + candidates)
            logger.info(
                "experiment %r: %d trial(s) stored, running %d more to reach %d",
                name,
                scheduler.experiment.num_trials,
                remaining,
                total_trials,
            )
            if not state.requested:
                scheduler.run_n_trials(max_trials=remaining, timeout_hours=timeout_hours)
            if embedded and state.requested and scheduler.pending_trials and state.signals < 2:
                drained = _drain(scheduler, state, drain_seconds)
    finally:
        if progress is not None:
            scheduler.listeners.remove(progress)
            progress.close()
    if metrics is not None:
        metrics.update_from(scheduler.experiment)
    summary = scheduler.summarize_final_result()
    out = len(scheduler.pending_trials)
    budget_reached = scheduler.experiment.num_trials >= total_trials and out == 0
    if state.requested:
        logger.warning(
            "stopped (%s): %d trial(s) stored, %d still out%s; continue with "
            "`bo-scheduler resume %s`",
            state.reason,
            scheduler.experiment.num_trials,
            out,
            " (they keep running on the workers)" if out and not embedded else "",
            name,
        )
    return DaemonResult(
        summary=summary,
        stopped=state.requested,
        stop_reason=state.reason,
        budget_reached=budget_reached,
        trials_out=out,
        drained=drained,
        interrupted=state.interrupted,
    )


@contextmanager
def _stops(state: _StopState, group: StopGroup | None) -> Iterator[None]:
    """Signals to `state`: through `group` when shared, else handlers of its own."""
    if group is None:
        with signal_handlers(state):
            yield
        return
    group.add(state)
    try:
        yield
    finally:
        group.remove(state)


def _drain(scheduler: Scheduler, state: _StopState, seconds: float) -> bool:
    """Embedded mode: wait for the in-process trials (they die with the process)."""
    pending = len(scheduler.pending_trials)
    logger.warning(
        "waiting up to %.0f s for %d in-process trial(s) to finish (send the signal again "
        "to exit now; unfinished trials are then failed as lost on resume)",
        seconds,
        pending,
    )
    state.draining = True
    try:
        scheduler.run_n_trials(max_trials=0, timeout_hours=max(seconds, 1e-3) / 3600)
    finally:
        state.draining = False
    finished = not scheduler.pending_trials
    if finished:
        logger.info("all in-process trials finished")
    return finished


#: The `[name] ` tag of the experiment a shared daemon's thread runs ("" alone);
#: each experiment's thread sets it, and every log line it writes carries it.
EXPERIMENT_TAG: ContextVar[str] = ContextVar("bo_experiment_tag", default="")


class MaskingFormatter(logging.Formatter):
    """A formatter that masks passwords in URLs anywhere in a log line, and puts the
    experiment's tag (`EXPERIMENT_TAG`) before the message."""

    def format(self, record: logging.LogRecord) -> str:
        record.experiment_tag = EXPERIMENT_TAG.get()
        return mask_secrets(super().format(record))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (it may be replaced, e.g. in tests)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(level: int | str = logging.INFO) -> None:
    """Log to stderr with timestamps, passwords in URLs masked."""
    handler = _StderrHandler()
    handler.setFormatter(
        MaskingFormatter(
            "%(asctime)s %(levelname)s %(name)s: %(experiment_tag)s%(message)s",
            "%Y-%m-%d %H:%M:%S",
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bo_scheduler", False):
            root.removeHandler(old)
    handler._bo_scheduler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Celery and kombu are chatty at INFO about their own plumbing.
    for noisy in ("kombu", "celery", "amqp", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
