"""Parameter values as the numbers a test computes with."""

from __future__ import annotations

from scheduler.core.parameters import TParamValue


def number(value: TParamValue) -> float:
    """`value` itself, typed as a number: the value of a numeric parameter.

    A parameter value is typed `str | int | float | bool | None`; a test doing
    arithmetic on a numeric parameter's value passes it through here. Any
    other value raises the `TypeError` the arithmetic would have raised.
    """
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return value
