"""Experiment definitions <-> JSON: search space, objectives, metrics, runner, steps.

Plain dicts of JSON types, written by hand rather than pickled, so a stored
experiment stays readable by SQL tools and by later versions of the code.
Runners and metrics go through a `Registry` (see `registry.py`).
"""

from __future__ import annotations

import json
from typing import Any

from scheduler.core.experiment import Experiment
from scheduler.core.metric import Metric
from scheduler.core.optimization import (
    ComparisonOp,
    MultiObjective,
    Objective,
    ObjectiveThreshold,
    OptimizationConfig,
    OutcomeConstraint,
)
from scheduler.core.parameters import (
    ChoiceParameter,
    FixedParameter,
    Parameter,
    ParameterConstraint,
    ParameterType,
    RangeParameter,
)
from scheduler.core.runner import Runner
from scheduler.core.search_space import SearchSpace
from scheduler.generation.strategy import GenerationStep, GenerationStrategy
from scheduler.storage.errors import EncodingError, StorageError
from scheduler.storage.registry import Kind, Registry
from scheduler.storage.sql.engine import json_dumps

JSON = dict[str, Any]


# -- search space ------------------------------------------------------------
def parameter_to_json(parameter: Parameter) -> JSON:
    common = {"name": parameter.name, "parameter_type": parameter.parameter_type.value}
    if isinstance(parameter, RangeParameter):
        return {
            "kind": "range",
            **common,
            "lower": parameter.lower,
            "upper": parameter.upper,
            "log_scale": parameter.log_scale,
        }
    if isinstance(parameter, ChoiceParameter):
        return {
            "kind": "choice",
            **common,
            "values": list(parameter.values),
            "is_ordered": parameter.is_ordered,
            "sort_values": parameter.sort_values,
        }
    return {"kind": "fixed", **common, "value": parameter.value}


def parameter_from_json(blob: JSON) -> Parameter:
    kind = blob["kind"]
    ptype = ParameterType(blob["parameter_type"])
    if kind == "range":
        return RangeParameter(
            blob["name"], ptype, blob["lower"], blob["upper"], log_scale=blob["log_scale"]
        )
    if kind == "choice":
        return ChoiceParameter(
            blob["name"],
            ptype,
            list(blob["values"]),
            is_ordered=blob["is_ordered"],
            sort_values=blob["sort_values"],
        )
    if kind == "fixed":
        return FixedParameter(blob["name"], ptype, blob["value"])
    raise StorageError(f"Unknown stored parameter kind {kind!r}.")


def search_space_to_json(space: SearchSpace) -> JSON:
    return {
        "parameters": [parameter_to_json(p) for p in space.parameters.values()],
        "parameter_constraints": [
            {"constraint_dict": dict(c.constraint_dict), "bound": c.bound, "tolerance": c.tolerance}
            for c in space.parameter_constraints
        ],
    }


def search_space_from_json(blob: JSON) -> SearchSpace:
    return SearchSpace(
        [parameter_from_json(p) for p in blob["parameters"]],
        [
            ParameterConstraint(c["constraint_dict"], c["bound"], tolerance=c["tolerance"])
            for c in blob["parameter_constraints"]
        ],
    )


# -- optimization config -----------------------------------------------------
def _objective_to_json(objective: Objective, registry: Registry) -> JSON:
    return {"metric": registry.encode("metric", objective.metric), "minimize": objective.minimize}


def _objective_from_json(blob: JSON, registry: Registry) -> Objective:
    return Objective(registry.decode("metric", blob["metric"]), minimize=blob["minimize"])


def optimization_config_to_json(config: OptimizationConfig, registry: Registry) -> JSON:
    objective = config.objective
    if isinstance(objective, MultiObjective):
        encoded: JSON = {
            "kind": "multi",
            "objectives": [_objective_to_json(o, registry) for o in objective.objectives],
        }
    else:
        encoded = {"kind": "single", **_objective_to_json(objective, registry)}
    return {
        "objective": encoded,
        "outcome_constraints": [
            {
                "metric": registry.encode("metric", c.metric),
                "op": c.op.name,
                "bound": c.bound,
                "relative": c.relative,
            }
            for c in config.outcome_constraints
        ],
        "objective_thresholds": [
            {"metric": registry.encode("metric", t.metric), "bound": t.bound}
            for t in config.objective_thresholds
        ],
    }


def optimization_config_from_json(blob: JSON, registry: Registry) -> OptimizationConfig:
    encoded = blob["objective"]
    objective: Objective | MultiObjective
    if encoded["kind"] == "multi":
        objective = MultiObjective(
            [_objective_from_json(o, registry) for o in encoded["objectives"]]
        )
    else:
        objective = _objective_from_json(encoded, registry)
    return OptimizationConfig(
        objective,
        outcome_constraints=[
            OutcomeConstraint(
                registry.decode("metric", c["metric"]),
                ComparisonOp[c["op"]],
                c["bound"],
                relative=c["relative"],
            )
            for c in blob["outcome_constraints"]
        ],
        objective_thresholds=[
            ObjectiveThreshold(registry.decode("metric", t["metric"]), t["bound"])
            for t in blob["objective_thresholds"]
        ],
    )


# -- experiment --------------------------------------------------------------
def experiment_to_json(experiment: Experiment, registry: Registry) -> JSON:
    """The columns of an experiment row (everything but trials and data)."""
    config = experiment.optimization_config
    runner = experiment.runner
    metrics = [] if config is None else list(config.metrics.values())
    metrics += [] if config is None else [t.metric for t in config.objective_thresholds]
    items: list[tuple[Kind, Any]] = [("runner", runner)]
    items += [("metric", m) for m in metrics + experiment.tracking_metrics]
    registry.check_registered(items)
    return {
        "description": experiment.description,
        "is_test": experiment.is_test,
        "search_space": search_space_to_json(experiment.search_space),
        "optimization_config": None
        if config is None
        else optimization_config_to_json(config, registry),
        "runner": None if runner is None else registry.encode("runner", runner),
        "tracking_metrics": [registry.encode("metric", m) for m in experiment.tracking_metrics],
    }


def experiment_from_json(name: str, blob: JSON, registry: Registry) -> Experiment:
    config = blob["optimization_config"]
    runner: Runner | None = (
        None if blob["runner"] is None else registry.decode("runner", blob["runner"])
    )
    tracking: list[Metric] = [registry.decode("metric", m) for m in blob["tracking_metrics"]]
    return Experiment(
        name=name,
        search_space=search_space_from_json(blob["search_space"]),
        optimization_config=None
        if config is None
        else optimization_config_from_json(config, registry),
        runner=runner,
        tracking_metrics=tracking,
        is_test=bool(blob["is_test"]),
        description=blob["description"],
    )


#: What makes two experiments "the same" when one is saved under a stored name.
DEFINING_FIELDS = ("search_space", "optimization_config")


def definition_differences(stored: JSON, given: JSON) -> list[str]:
    """The differences between the defining parts of two experiments, one line each,
    down to the field that differs: `parameter x1: upper stored 10, given 12`,
    `parameter lr: given only`, `objective[0] metric name: stored loss, given acc`."""
    problems: list[str] = []
    for key in DEFINING_FIELDS:
        _differences(_label(key), _canonical(stored.get(key)), _canonical(given.get(key)), problems)
    return problems


def _label(key: str) -> str:
    return {"parameters": "parameter", "parameter_constraints": "parameter constraint"}.get(
        key, key.replace("_", " ")
    )


def _differences(path: str, stored: Any, given: Any, out: list[str]) -> None:
    """Append a line per leaf where `stored` and `given` differ (lists of named
    items, like parameters, are matched by name, other lists by position)."""
    if stored == given:
        return
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in [*stored, *(k for k in given if k not in stored)]:
            where = path if key == "args" else f"{path} {_label(key)}"
            if key not in given:
                out.append(f"{where}: stored {_short(stored[key])}, not given")
            elif key not in stored:
                out.append(f"{where}: given {_short(given[key])}, not stored")
            else:
                _differences(where, stored[key], given[key], out)
        return
    if isinstance(stored, list) and isinstance(given, list):
        if _all_named(stored) and _all_named(given):
            old = {item["name"]: item for item in stored}
            new = {item["name"]: item for item in given}
            for name in [*old, *(n for n in new if n not in old)]:
                if name not in new:
                    out.append(f"{path} {name}: stored only")
                elif name not in old:
                    out.append(f"{path} {name}: given only")
                else:
                    _differences(f"{path} {name}", old[name], new[name], out)
            return
        if len(stored) == len(given):
            for i, (a, b) in enumerate(zip(stored, given, strict=True)):
                _differences(f"{path}[{i}]", a, b, out)
            return
    out.append(f"{path}: stored {_short(stored)}, given {_short(given)}")


def _all_named(items: list[Any]) -> bool:
    return bool(items) and all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in items
    )


def _canonical(value: Any) -> Any:
    """`value` as it reads back from the database (tuples become lists, NaN null)."""
    return json.loads(json_dumps(value))


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- generation strategy -----------------------------------------------------
def generation_strategy_to_json(strategy: GenerationStrategy) -> JSON:
    """The step definitions: enough to rebuild the strategy without user code."""
    steps = []
    for step in strategy.steps:
        try:
            json.dumps(step.model_kwargs, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise EncodingError(
                f"GenerationStep {step.name!r} has model_kwargs {step.model_kwargs!r} that "
                f"are not JSON-safe ({exc}); storage needs plain JSON values there."
            ) from exc
        encoded = {
            "model": step.model_name,
            "num_trials": step.num_trials,
            "max_parallelism": step.max_parallelism,
            "min_trials_observed": step.min_trials_observed,
            "enforce_num_trials": step.enforce_num_trials,
            "model_kwargs": dict(step.model_kwargs),
            "name": step.name,
        }
        if step.fill_while_waiting:  # absent when 0: strategies stored before it still match
            encoded["fill_while_waiting"] = step.fill_while_waiting
        steps.append(encoded)
    return {"name": strategy.name, "seed": strategy.seed, "steps": steps}


def generation_strategy_from_json(definition: JSON, state: JSON | None) -> GenerationStrategy:
    strategy = GenerationStrategy(
        steps=[GenerationStep(**step) for step in definition["steps"]],
        name=definition["name"],
        seed=definition["seed"],
    )
    if state:
        strategy.set_state(state)
    return strategy
