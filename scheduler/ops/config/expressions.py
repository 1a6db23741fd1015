"""The two small languages of a config: parameter and outcome constraints.

`parse_parameter_constraint('x1 + 2*x2 <= 10', ranges)` and
`parse_outcome_constraint('cost <= 3.5')` return plain values, or raise
`ConfigProblemError` (a problem and its fix) for the caller to place at a
field: the schema validates with them and the builders build with them, so
what is accepted and what is built cannot disagree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from scheduler.ops.config.errors import ConfigProblemError

_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_TERM = re.compile(rf"\s*([-+])?\s*(?:({_NUMBER})\s*\*?\s*)?([A-Za-z_][A-Za-z0-9_.]*)?\s*")
_PARAMETER_EXAMPLE = "write a linear inequality such as 'x1 + 2*x2 <= 10' or 'x1 <= x2'"
_OUTCOME = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_.:-]*)\s*(<=|>=)\s*([-+]?{_NUMBER})\s*(%?)\s*$")


def _linear(side: str, text: str) -> tuple[dict[str, float], float]:
    """`{name: coefficient}` and the constant of a linear expression like '2*x1 - x2 + 3'."""
    weights: dict[str, float] = {}
    constant = 0.0
    position, first = 0, True
    side = side.strip()
    if not side:
        raise ConfigProblemError(f"{text!r} has an empty side", _PARAMETER_EXAMPLE)
    while position < len(side):
        match = _TERM.match(side, position)
        if match is None or match.end() == position:
            raise ConfigProblemError(
                f"cannot read {side[position:]!r} in {text!r}", _PARAMETER_EXAMPLE
            )
        sign_text, number, name = match.groups()
        if sign_text is None and not first:
            raise ConfigProblemError(
                f"missing + or - before {side[position:].strip()!r} in {text!r}",
                _PARAMETER_EXAMPLE,
            )
        if number is None and name is None:
            raise ConfigProblemError(f"dangling sign in {text!r}", _PARAMETER_EXAMPLE)
        sign = -1.0 if sign_text == "-" else 1.0
        coefficient = sign * (float(number) if number is not None else 1.0)
        if name is None:
            constant += coefficient
        else:
            weights[name] = weights.get(name, 0.0) + coefficient
        position, first = match.end(), False
    return weights, constant


def parse_parameter_constraint(
    text: str, ranges: Mapping[str, Any] | None
) -> tuple[dict[str, float], float]:
    """`'x1 + 2*x2 <= 10'` -> `({'x1': 1, 'x2': 2}, 10)`; `>=` is turned around.

    `ranges` maps the linear-scale range parameters' names (the only ones a
    linear constraint may use) to anything; None skips the name check.
    """
    parts = re.split(r"(<=|>=)", text)
    if len(parts) != 3:
        raise ConfigProblemError(f"{text!r} needs exactly one '<=' or '>='", _PARAMETER_EXAMPLE)
    left, op, right = parts
    lw, lc = _linear(left, text)
    rw, rc = _linear(right, text)
    weights = dict(lw)
    for name, w in rw.items():
        weights[name] = weights.get(name, 0.0) - w
    bound = rc - lc
    if op == ">=":
        weights = {k: -v for k, v in weights.items()}
        bound = -bound
    weights = {k: v for k, v in weights.items() if v != 0.0}
    if not weights:
        raise ConfigProblemError(f"{text!r} names no parameter", _PARAMETER_EXAMPLE)
    for name in weights:
        if ranges is not None and name not in ranges:
            close = difflib.get_close_matches(name, list(ranges), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigProblemError(
                f"{name!r} is not a linear-scale range parameter",
                f"{hint}constraints may use: {', '.join(ranges) or 'no parameter'}",
            )
    return weights, bound


def parse_outcome_constraint(text: str) -> tuple[str, str, float]:
    """`'cost <= 3.5'` -> `('cost', '<=', 3.5)`."""
    match = _OUTCOME.match(text)
    if match is None:
        raise ConfigProblemError(
            f"cannot read {text!r}",
            "write 'metric <= number' or 'metric >= number', e.g. 'cost <= 3.5'",
        )
    metric, op, number, percent = match.groups()
    if percent:
        raise ConfigProblemError(
            f"{text!r} is relative (%), which needs a status-quo arm bo-scheduler does not have",
            "give an absolute bound, e.g. 'cost <= 3.5'",
        )
    return metric, op, float(number)
