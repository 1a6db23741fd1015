"""`FleetShare`: one cap on trials out, split between experiments by weight.

The split (unit tests), the cap under any interleaving of asks (a property
test), and two real `Scheduler` loops on threads sharing one cap.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler import Scheduler, Trial, TrialStatus
from scheduler.fleet_share import FleetShare
from tests.scheduler.fake_queue import (
    FakeJobQueue,
    fast_options,
    make_experiment,
    sobol_only,
)


def test_the_cap_is_split_in_proportion_to_the_weights() -> None:
    share = FleetShare(8)
    share.join("a", weight=3)
    share.join("b", weight=1)
    assert share.allowance("a", out=0, demand=8) == 6
    assert share.allowance("b", out=0, demand=8) == 2
    assert share.shares() == {"a": 6, "b": 2}


def test_equal_weights_split_evenly_and_ties_are_stable() -> None:
    share = FleetShare(5)
    for name in ("b", "a", "c"):
        share.join(name)
    assert share.shares() == {"a": 2, "b": 2, "c": 1}  # the odd slot: first by name
    assert share.shares() == share.shares()


def test_what_an_experiment_does_not_want_goes_to_the_others() -> None:
    share = FleetShare(6)
    share.join("small")
    share.join("big")
    assert share.allowance("small", out=0, demand=1) == 1
    assert share.allowance("big", out=0, demand=10) == 5


def test_an_experiment_that_leaves_frees_its_share_at_once() -> None:
    share = FleetShare(4)
    share.join("a")
    share.join("b")
    assert share.allowance("a", out=0, demand=4) == 2
    assert share.allowance("b", out=0, demand=4) == 2
    assert share.allowance("a", out=2, demand=4) == 0  # at its share
    share.leave("b")
    assert share.allowance("a", out=2, demand=4) == 2


def test_trials_out_are_never_taken_back_and_the_cap_holds() -> None:
    share = FleetShare(4)
    share.join("a")
    share.join("b")
    assert share.allowance("a", out=0, demand=0) == 0  # a wants nothing for now
    assert share.allowance("b", out=0, demand=4) == 4  # so b may use the whole cap
    # a wants trials again: its share is 2, but b's 4 are out, so nothing is free.
    assert share.allowance("a", out=0, demand=4) == 0
    assert share.allowance("b", out=4, demand=4) == 0  # b is over its share now
    assert share.allowance("b", out=1, demand=4) == 1  # three finished: back to its share
    assert share.allowance("a", out=0, demand=4) == 2
    assert share.allowance("a", out=2, demand=4) == 0


def test_not_joined_means_not_limited() -> None:
    assert FleetShare(2).allowance("alone", out=1, demand=5) == 4


@pytest.mark.parametrize("cap", [0, -1, 1.5, True])
def test_a_cap_must_be_a_positive_whole_number(cap: Any) -> None:
    with pytest.raises(ValueError, match="positive whole number"):
        FleetShare(cap)


def test_a_weight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="above 0"):
        FleetShare(2).join("a", weight=0)


@settings(max_examples=200, deadline=None)
@given(
    cap=st.integers(1, 8),
    weights=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    steps=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9), st.booleans()), max_size=60),
)
def test_no_interleaving_of_asks_and_finishes_puts_more_than_the_cap_out(
    cap: int, weights: list[int], steps: list[tuple[int, int, bool]]
) -> None:
    share = FleetShare(cap)
    names = [f"e{i}" for i in range(len(weights))]
    out = dict.fromkeys(names, 0)
    for name, weight in zip(names, weights, strict=True):
        share.join(name, weight)
    for who, demand, finish in steps:
        name = names[who % len(names)]
        if finish:
            out[name] = max(0, out[name] - 1)
        else:
            out[name] += share.allowance(name, out[name], demand)  # launches all it may
        assert sum(out.values()) <= cap


class CountingQueue(FakeJobQueue):
    """A queue that records, at every submit, the jobs out on all `shared` queues."""

    shared: list[FakeJobQueue]
    seen: list[int]
    lock: threading.Lock

    def submit(self, trial: Trial) -> int:
        with self.lock:
            job_id = super().submit(trial)
            self.seen.append(sum(len(q.active) for q in self.shared))
        return job_id


def test_two_loops_on_threads_share_one_cap_and_a_finished_one_frees_its_share() -> None:
    # long's jobs finish only once short is done, so long outlasts short whatever
    # the threads' timing; until then long holds what its share let it send.
    short = CountingQueue(polls_to_finish=2)
    long = CountingQueue(polls_to_finish=None, max_polls=1_000_000)
    out_at_deploy: list[int] = []
    lock = threading.Lock()
    for queue in (short, long):
        queue.shared, queue.seen, queue.lock = [short, long], out_at_deploy, lock
    share = FleetShare(4)
    schedulers = {}
    for name, queue in (("short", short), ("long", long)):
        share.join(name)
        experiment = make_experiment(queue, name=name)
        options = fast_options(
            max_pending_trials=4, init_seconds_between_polls=0.001, max_seconds_between_polls=0.01
        )
        schedulers[name] = Scheduler(experiment, sobol_only(), options, fleet_share=share)
    budgets = {"short": 2, "long": 12}
    long_alone: list[int] = []

    def short_done() -> bool:
        trials = schedulers["short"].experiment.trials.values()
        return len(trials) == budgets["short"] and all(t.status.is_terminal for t in trials)

    def run(name: str) -> None:
        schedulers[name].run_n_trials(max_trials=budgets[name])
        share.leave(name)

    def finish_long_after_short(q: FakeJobQueue, _polls: int) -> None:
        if not short_done():
            return
        long_alone.append(len(q.active))
        for job in q.active:
            if job.polls >= 2:
                q.complete(job.trial_index)

    long.on_poll = finish_long_after_short
    threads = [threading.Thread(target=run, args=(name,)) for name in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    for name, scheduler in schedulers.items():
        statuses = [t.status for t in scheduler.experiment.trials.values()]
        assert statuses == [TrialStatus.COMPLETED] * budgets[name], name
    assert max(out_at_deploy) <= 4  # never more than the cap out between them
    assert max(long_alone) == 4  # once short was done, long used the whole cap
