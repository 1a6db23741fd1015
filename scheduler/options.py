"""`SchedulerOptions`: every knob of the closed loop, validated on construction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

from scheduler.core.errors import InvalidSchedulerOptionsError


@dataclass(frozen=True)
class SchedulerOptions:
    """How the scheduler runs trials, polls them and gives up.

    Attributes:
        max_pending_trials: trials out at once (STAGED + RUNNING + CANDIDATE).
        total_trials: budget of the whole experiment, used by `run_all_trials`.
        tolerated_trial_failure_rate: fraction of deployed trials allowed to fail,
            in [0, 1); above it `FailureRateExceededError` ends the run...
        min_failed_trials_for_failure_rate_check: ...once at least this many failed.
        ttl_seconds_for_trials: a trial out longer than this is FAILED ("exceeded
            TTL") and its runner asked to stop it. None: no limit.
        init_seconds_between_polls: first wait between polls when nothing changes;
            multiplied by `seconds_between_polls_backoff_factor` after each idle
            poll, up to `max_seconds_between_polls`, and reset on any change.
        min_seconds_before_poll: wait after deploying trials before polling them.
        run_trials_in_batches: deploy with one `Runner.run_multiple` call, as many
            trials as `Runner.poll_available_capacity` says the fleet can take.
        generate_ahead: while every slot is busy, generate the next trial as a
            CANDIDATE, deployed the moment a slot frees, so no worker waits for
            the model (the spare is proposed one result earlier).
        wait_for_running_trials: when the budget is deployed, wait for the trials
            still out before returning (False: return at once, they stay running).
        early_stopping_strategy: object with `should_stop_trials_early`.
        global_stopping_strategy: object with `should_stop_optimization`.
        logging_level: level of the "scheduler" logger, set when a Scheduler is built.
        log_filepath: also write the "scheduler" logger's records to this file.
        validate_metrics: reject, when the Scheduler is built, a metric whose class
            does not override `fetch_trial_data` (it could never return data).
        suppress_storage_errors_after_retries: a store call that still fails after
            its retries is logged and the run goes on (the database catches up
            on the next save of that trial); False: the error ends the run.
    """

    max_pending_trials: int = 10
    total_trials: int | None = None
    tolerated_trial_failure_rate: float = 0.5
    min_failed_trials_for_failure_rate_check: int = 5
    ttl_seconds_for_trials: float | None = None
    init_seconds_between_polls: float = 1.0
    min_seconds_before_poll: float = 1.0
    seconds_between_polls_backoff_factor: float = 1.5
    max_seconds_between_polls: float = 30.0
    run_trials_in_batches: bool = False
    generate_ahead: bool = False
    wait_for_running_trials: bool = True
    early_stopping_strategy: Any = None
    global_stopping_strategy: Any = None
    logging_level: int = logging.INFO
    log_filepath: str | None = None
    validate_metrics: bool = False
    suppress_storage_errors_after_retries: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_types()
        _require(
            self.max_pending_trials >= 1,
            "max_pending_trials",
            self.max_pending_trials,
            "a positive number of trials",
        )
        if self.total_trials is not None:
            _require(
                self.total_trials >= 0,
                "total_trials",
                self.total_trials,
                "a non-negative number or None",
            )
        _require(
            0.0 <= self.tolerated_trial_failure_rate < 1.0,
            "tolerated_trial_failure_rate",
            self.tolerated_trial_failure_rate,
            "a fraction in [0, 1), e.g. 0.5",
        )
        _require(
            self.min_failed_trials_for_failure_rate_check >= 1,
            "min_failed_trials_for_failure_rate_check",
            self.min_failed_trials_for_failure_rate_check,
            "a positive count",
        )
        if self.ttl_seconds_for_trials is not None:
            _require(
                self.ttl_seconds_for_trials > 0,
                "ttl_seconds_for_trials",
                self.ttl_seconds_for_trials,
                "a positive number of seconds or None",
            )
        _require(
            self.init_seconds_between_polls >= 0,
            "init_seconds_between_polls",
            self.init_seconds_between_polls,
            "seconds >= 0",
        )
        _require(
            self.min_seconds_before_poll >= 0,
            "min_seconds_before_poll",
            self.min_seconds_before_poll,
            "seconds >= 0",
        )
        _require(
            self.seconds_between_polls_backoff_factor >= 1.0,
            "seconds_between_polls_backoff_factor",
            self.seconds_between_polls_backoff_factor,
            "a factor >= 1",
        )
        _require(
            self.max_seconds_between_polls >= self.init_seconds_between_polls,
            "max_seconds_between_polls",
            self.max_seconds_between_polls,
            "at least init_seconds_between_polls",
        )
        for name in ("early_stopping_strategy", "global_stopping_strategy"):
            strategy = getattr(self, name)
            method = (
                "should_stop_trials_early"
                if name.startswith("early")
                else "should_stop_optimization"
            )
            if strategy is not None and not callable(getattr(strategy, method, None)):
                raise InvalidSchedulerOptionsError(
                    f"SchedulerOptions.{name} must have a {method}() method; got "
                    f"{type(strategy).__name__}."
                )

    def _check_types(self) -> None:
        """Numbers must be numbers: a string gets a named error, not a bare TypeError."""
        integers = (
            "logging_level",
            "max_pending_trials",
            "total_trials",
            "min_failed_trials_for_failure_rate_check",
        )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("early_stopping_strategy", "global_stopping_strategy", "extra"):
                continue
            if value is None and f.name in ("total_trials", "ttl_seconds_for_trials"):
                continue
            if f.name == "log_filepath":
                if value is not None and not isinstance(value, str):
                    raise InvalidSchedulerOptionsError(
                        f"SchedulerOptions.log_filepath={value!r}; use a file path string or None."
                    )
                continue
            if f.name in _BOOLEANS:
                if not isinstance(value, bool):
                    raise InvalidSchedulerOptionsError(
                        f"SchedulerOptions.{f.name}={value!r}; use True or False."
                    )
                continue
            wanted: tuple[type, ...] = (int,) if f.name in integers else (int, float)
            if isinstance(value, bool) or not isinstance(value, wanted):
                kind = "a whole number" if f.name in integers else "a number"
                raise InvalidSchedulerOptionsError(
                    f"SchedulerOptions.{f.name}={value!r} is a {type(value).__name__}; use {kind}."
                )

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


_BOOLEANS = (
    "run_trials_in_batches",
    "generate_ahead",
    "wait_for_running_trials",
    "validate_metrics",
    "suppress_storage_errors_after_retries",
)


def _require(ok: bool, name: str, value: object, wanted: str) -> None:
    if not ok:
        raise InvalidSchedulerOptionsError(
            f"SchedulerOptions.{name}={value!r} is not valid; use {wanted}."
        )
