"""Reading deploy/: the compose file with Compose's interpolation, the Procfile, systemd units.

Also checks a command line against the CLIs that run it (`bo-scheduler`
and `celery`, Flower's options included) by parsing it with their click
commands, without running anything.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
PROCFILE = DEPLOY / "Procfile"
ENV_EXAMPLE = DEPLOY / ".env.example"
SCHEMA_FILE = DEPLOY / "schema" / "compose-spec.json"
SYSTEMD_DIR = DEPLOY / "systemd"

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A `${VAR:?message}` whose variable is unset (Compose refuses to start)."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: `$$`, `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR:?msg}`..."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        missing = not value if op in (":-", ":?") else value is None
        if op in (":-", "-") and missing:
            return interpolate(arg, env)
        if op in (":?", "?") and missing:
            raise InterpolationError(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def load_compose() -> dict[str, Any]:
    """The compose file as YAML data (merge keys resolved, no interpolation)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a dotenv file (comments and blank lines skipped)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        env[key.strip()] = value.strip()
    return env


def service_command(service: Mapping[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else shlex.join(command)


def service_environment(service: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """A service's `environment:` (mapping or list), interpolated with `env`."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: interpolate(str(v), env) for k, v in raw.items()}


def procfile() -> dict[str, str]:
    """`name: command` lines of deploy/Procfile."""
    entries: dict[str, str] = {}
    for line in PROCFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        entries[name.strip()] = command.strip()
    return entries


def systemd_exec_lines() -> dict[str, list[str]]:
    """ExecStart/ExecStartPre command lines of each unit, by unit file name."""
    found: dict[str, list[str]] = {}
    for unit in sorted(SYSTEMD_DIR.glob("*.service")):
        lines = [
            line.split("=", 1)[1].strip()
            for line in unit.read_text().splitlines()
            if re.match(r"^Exec(Start|StartPre)=", line)
        ]
        found[unit.name] = lines
    return found


# ------------------------------------------------------------- command checks


def _parse_through(
    group: click.Group,
    prog: str,
    args: list[str],
    setup: Callable[[click.Context], None] | None = None,
) -> list[str]:
    """Parse `args` through nested click groups; returns the path of commands taken.

    `setup` prepares the top group's context (e.g. `ctx.obj`) the way its
    callback would, since callbacks are not run.
    """
    path = [prog]
    command: click.Command = group
    parent: click.Context | None = None
    while True:
        ctx = command.make_context(path[-1], list(args), parent=parent)
        if parent is None and setup is not None:
            setup(ctx)
        if not isinstance(command, click.Group):
            return path
        protected = getattr(ctx, "_protected_args", None)
        if protected is None:
            protected = ctx.protected_args
        rest = [*protected, *ctx.args]
        if not rest:
            raise click.UsageError(f"{' '.join(path)}: no subcommand given")
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        path.append(name)
        command, args, parent = sub, rest, ctx


def check_bo_scheduler_command(argv: list[str]) -> list[str]:
    """Parse `bo-scheduler ...` with our click CLI; raises click errors if it would fail."""
    from scheduler.ops.cli.main import main

    assert argv[0].endswith("bo-scheduler"), argv
    return _parse_through(main, "bo-scheduler", argv[1:])


def check_celery_command(argv: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """Parse `celery ...` with Celery's click CLI (plugins such as flower included).

    Flower passes its arguments to tornado: those are checked against
    Flower's option names, and so are the FLOWER_* variables in `env`.
    """
    from celery.app.utils import find_app
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery

    def setup(ctx: click.Context) -> None:
        app = find_app(ctx.params["app"]) if ctx.params.get("app") else None
        ctx.obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)

    assert argv[0].endswith("celery"), argv
    path = _parse_through(celery, "celery", argv[1:], setup)
    if path[-1] == "flower":
        from flower.options import options

        known = {name.replace("-", "_") for name in options._options}  # tornado uses dashes
        flower_args = argv[argv.index("flower") + 1 :]
        for arg in flower_args:
            assert arg.startswith("--"), f"flower takes --name=value options, got {arg!r}"
            name = arg[2:].split("=", 1)[0].replace("-", "_")
            assert name in known, f"flower has no option --{name}"
        for variable in env or {}:
            if variable.startswith("FLOWER_") and variable != "FLOWER_UNAUTHENTICATED_API":
                name = variable[len("FLOWER_") :].lower()
                assert name in known, f"{variable} names no Flower option"
    return path
