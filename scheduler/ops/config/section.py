"""`Section`: the base of every config section model.

Unknown keys are errors that suggest the key meant (a typo in a YAML file
should never be silently ignored), reported like every other problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from scheduler.ops.config.errors import custom


class Section(BaseModel):
    """A config section: unknown keys are errors that suggest the key meant."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        allowed = list(cls.model_fields)
        unknown = [k for k in data if k not in allowed]
        if unknown:
            key = str(unknown[0])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            others = f" (also unknown: {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else ""
            raise custom(
                f"unknown key {key!r}{others}",
                f"{hint}allowed keys here: {', '.join(allowed)}",
                key=key,
            )
        return data
