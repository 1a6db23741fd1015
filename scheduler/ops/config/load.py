"""Reading a config: a YAML or TOML file (or loaded data) to a valid `ExperimentConfig`.

Syntax errors and validation problems alike end as one `ConfigError`
listing every problem as `field: problem — fix`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scheduler.ops.config.errors import EXAMPLE_CONFIG, ConfigError, ConfigProblem, problems_from
from scheduler.ops.config.schema import ExperimentConfig

#: `read_config_data`'s wrapper for a file whose top level is not a mapping.
_NOT_A_MAPPING = "__not_a_mapping__"


def parse_config(data: Any, source: str = "config") -> ExperimentConfig:
    """Validate already-loaded config data; raise `ConfigError` listing every problem."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            [
                ConfigProblem(
                    "(top level)",
                    f"the file holds a {type(data).__name__}, not a mapping of sections",
                    f"start from {EXAMPLE_CONFIG}",
                )
            ],
            source,
        )
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc), source) from None


#: The config files `read_config_data` reads: TOML by its suffix, YAML otherwise.
CONFIG_SUFFIXES = (".yaml", ".yml", ".toml")


def read_config_data(path: str | Path) -> dict[str, Any]:
    """The raw mapping in a YAML (`.yaml`, `.yml`) or TOML (`.toml`) file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem("(file)", f"cannot read {source}: {exc.strerror}", "check the path")],
            source,
        ) from None
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                [ConfigProblem("(file)", f"invalid TOML: {exc}", "fix the TOML syntax there")],
                source,
            ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [
                ConfigProblem(
                    f"(YAML at {where})",
                    f"invalid YAML: {problem}",
                    "fix indentation or quoting there (quote strings containing ': ' or '#')",
                )
            ],
            source,
        ) from None
    return data if isinstance(data, dict) else {_NOT_A_MAPPING: data}


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a config file; raise `ConfigError` listing every problem."""
    data = read_config_data(path)
    if _NOT_A_MAPPING in data and len(data) == 1:
        return parse_config(data[_NOT_A_MAPPING], str(path))
    return parse_config(data, str(path))
