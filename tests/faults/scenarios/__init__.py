"""The fault scenarios, as functions the tests and ``python -m bench.faults`` both run.

Each takes a scratch directory, runs a real experiment on real Redis and real
``celery worker`` processes with SQL storage, injects its fault mid-run and
returns a :class:`~tests.faults.harness.ScenarioResult` whose ``problems``
list every broken guarantee (see :func:`~tests.faults.harness.check_invariants`).
The documented outcome of each is in ``docs/reliability.md``.
"""

from tests.faults.fault_objectives import MODES as MODES
from tests.faults.scenarios.bad_inputs import (
    OpensAFileWhenUnpickled as OpensAFileWhenUnpickled,
)
from tests.faults.scenarios.bad_inputs import malformed_messages as malformed_messages
from tests.faults.scenarios.bad_inputs import misbehaving_objectives as misbehaving_objectives
from tests.faults.scenarios.network import NetnsUnavailable as NetnsUnavailable
from tests.faults.scenarios.network import worker_cut_off as worker_cut_off
from tests.faults.scenarios.restarts import postgres_restart as postgres_restart
from tests.faults.scenarios.restarts import redis_data_loss as redis_data_loss
from tests.faults.scenarios.restarts import redis_restart_persistent as redis_restart_persistent
from tests.faults.scenarios.restarts import scheduler_sigkill as scheduler_sigkill
from tests.faults.scenarios.restarts import worker_sigkill as worker_sigkill
