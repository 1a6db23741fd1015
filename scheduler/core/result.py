"""`Ok` / `Err`: what `Metric.fetch_trial_data` returns instead of raising."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
E = TypeVar("E")


@dataclass(frozen=True)
class Ok(Generic[T]):
    value: T

    def is_ok(self) -> bool:
        return True

    def is_err(self) -> bool:
        return False

    def unwrap(self) -> T:
        return self.value

    @property
    def ok(self) -> T:
        return self.value

    @property
    def err(self) -> None:
        return None


@dataclass(frozen=True)
class Err(Generic[E]):
    value: E

    def is_ok(self) -> bool:
        return False

    def is_err(self) -> bool:
        return True

    def unwrap(self) -> T:  # type: ignore[type-var]
        raise UnwrapError(f"Called unwrap() on {self!r}")

    @property
    def ok(self) -> None:
        return None

    @property
    def err(self) -> E:
        return self.value


class UnwrapError(Exception):
    """`unwrap()` was called on an `Err`."""


@dataclass
class MetricFetchE:
    """Why a metric could not be fetched for a trial."""

    message: str
    exception: BaseException | None = None

    def __str__(self) -> str:
        if self.exception is None:
            return self.message
        return f"{self.message}: {self.exception}"


Result = Ok[T] | Err[E]
