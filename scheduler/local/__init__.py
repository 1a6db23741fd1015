"""The in-process runner: evaluate a Python function in the scheduler's own process.

Importing this package registers `FunctionRunner` (its function stored by
name) and `FunctionMetric` for storage.
"""

from typing import Any

from scheduler.local.runner import FunctionMetric, FunctionRunner
from scheduler.storage.registry import DEFAULT_REGISTRY, Registry


def _encode_function_runner(runner: Any, registry: Registry) -> dict[str, Any]:
    return {"function": registry.function_name(runner.function)}


def _decode_function_runner(cls: type, args: dict[str, Any], registry: Registry) -> Any:
    return cls(registry.function(str(args["function"])))


DEFAULT_REGISTRY.register_metric(FunctionMetric)
DEFAULT_REGISTRY.register(
    "runner", FunctionRunner, encode=_encode_function_runner, decode=_decode_function_runner
)

__all__ = ["FunctionMetric", "FunctionRunner"]
