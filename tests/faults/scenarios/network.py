"""Scenario 6: a worker host cut off from the network (a network namespace)."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from scheduler import Scheduler
from scheduler.storage import SQLStore
from tests.faults.harness import (
    FaultThread,
    ScenarioResult,
    branin_experiment,
    check_invariants,
    fast_options,
    fleet,
    sobol,
    sqlite_settings,
    start_worker,
    wait_until_ready,
)
from tests.faults.redis_server import redis_server
from tests.faults.scenarios.helpers import last_line, running_on
from tests.support.celery_workers import stop_workers


class NetnsUnavailable(RuntimeError):
    """This sandbox does not let us create network namespaces and veth pairs."""


@contextlib.contextmanager
def isolated_host() -> Iterator[tuple[str, str, str]]:
    """A network namespace joined to this host by a veth pair on 10.200.N.0/30.

    Yields (namespace, host address, host-side interface). Traffic stays on
    this machine: the addresses exist only on the veth pair.
    """
    token = uuid.uuid4().hex[:6]
    namespace, host_if, ns_if = f"bofault-{token}", f"bfh{token}", f"bfn{token}"
    subnet = 200 + int(token[:2], 16) % 50
    host_ip, ns_ip = f"10.200.{subnet}.1", f"10.200.{subnet}.2"
    setup = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
        ["ip", "link", "set", ns_if, "netns", namespace],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", namespace, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", ns_if, "up"],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for command in setup:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise NetnsUnavailable(
                    f"`{' '.join(command)}` failed: {done.stderr.strip() or done.returncode} "
                    "(needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN, and iproute2)"
                )
        yield namespace, host_ip, host_if
    except FileNotFoundError as exc:
        raise NetnsUnavailable(f"iproute2 is not installed: {exc}") from None
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def worker_cut_off(workdir: Path, budget: int = 8) -> ScenarioResult:
    """A worker in its own network namespace loses its link to Redis mid-trial.

    Documented outcome: the trial is re-run on another worker. Redis still
    holds its message as unacknowledged; once the visibility timeout passes,
    a worker on this side of the cut redelivers it and the re-run completes
    the trial: its task body ran twice, its result is recorded once. The
    cut-off worker does not notice the dead link while its only slot is busy
    (no BRPOP is pending, so kombu's health check has nothing to time out),
    lets its copy finish and then waits on the dead socket with the result;
    were the link to return, that late duplicate result would be ignored by
    the scheduler, the trial being terminal. ``ttl_seconds_for_trials`` is
    the backstop if no worker is left to redeliver it.
    """
    cut: dict[str, int] = {}
    with (
        isolated_host() as (namespace, host_ip, host_if),
        redis_server(bind=("127.0.0.1", host_ip)) as redis,
    ):
        isolated = start_worker(
            redis.url(host=host_ip),
            workdir / "logs",
            "isolated",
            prefix=["ip", "netns", "exec", namespace],
        )
        try:
            with fleet(redis.url(), workdir / "logs", count=1) as (app, _):
                wait_until_ready(app, [isolated])
                count_dir = workdir / "counts"
                experiment = branin_experiment("cut-off", app, count_dir, runtime_seconds=2.0)
                settings = sqlite_settings(workdir)
                options = fast_options(max_pending_trials=2, ttl_seconds_for_trials=60.0)
                scheduler = Scheduler(experiment, sobol(), options, settings)

                def pull_the_cable() -> None:
                    cut["trial"] = running_on(count_dir, isolated)[0][0]
                    subprocess.run(["ip", "link", "set", host_if, "down"], check=True)

                fault = FaultThread(lambda: bool(running_on(count_dir, isolated)), pull_the_cable)
                fault.start()
                scheduler.run_n_trials(max_trials=budget, timeout_hours=0.05)
                fault.join(timeout=10)
                result = check_invariants(
                    "6. worker host cut off (netns, link down)",
                    SQLStore(settings),
                    experiment.name,
                    budget,
                    count_dir,
                    documented_reruns=set(cut.values()),
                )
        finally:
            stop_workers([isolated.process], timeout=2)
    if fault.error:
        result.problems.append(f"fault not injected: {last_line(fault.error)}")
    index = cut.get("trial")
    if index is not None:
        runs = result.executions.get(index, 0)
        if result.reason(index) or runs != 2:
            result.problems.append(
                f"trial {index} (cut off mid-run) ended {result.reason(index) or 'COMPLETED'} "
                f"after {runs} run(s); expected a re-run on the other worker that completes"
            )
    result.notes.append(
        f"trial {index} cut off mid-run, re-run on the other worker after the visibility timeout"
    )
    return result
