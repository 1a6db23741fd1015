"""Where the database, broker and result backend are: environment over config over defaults.

Twelve-factor: `BO_DATABASE_URL`, `BO_BROKER_URL` and `BO_RESULT_BACKEND`
(or Celery's own `CELERY_*` names) override a config's `database:` and
`broker:` sections; a `--db-url` flag overrides everything. `Services`
remembers where each setting came from, for the log and `status`, always
with passwords masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from scheduler.core.errors import BoSchedulerError
from scheduler.core.masking import mask_url
from scheduler.ops.config.schema import ExperimentConfig
from scheduler.ops.env import (
    DEFAULT_DATABASE_URL,
    EMBEDDED_BROKER_URL,
    ENV_BROKER_URL,
    ENV_CELERY_BROKER_URL,
    ENV_CELERY_RESULT_BACKEND,
    ENV_DATABASE_URL,
    ENV_RESULT_BACKEND,
)


class BrokerSettingsError(BoSchedulerError, ValueError):
    """The broker settings cannot make a Celery app; the message names the variable and fix."""


@dataclass(frozen=True)
class Services:
    """Where the database, broker and result backend are, and where each setting came from."""

    database_url: str
    broker_url: str | None
    result_backend: str | None
    sources: dict[str, str]

    @property
    def embedded(self) -> bool:
        """No broker: trials run on an in-process worker."""
        return self.broker_url is None or self.broker_url.startswith(EMBEDDED_BROKER_URL)

    def describe(self) -> dict[str, str]:
        """Masked settings with their source, for logs and `status`."""
        backend = self.result_backend or ("(the broker)" if self.broker_url else None)
        return {
            "database": f"{mask_url(self.database_url)} ({self.sources['database']})",
            "broker": (
                "embedded (in-process worker)"
                if self.embedded
                else f"{mask_url(self.broker_url)} ({self.sources['broker']})"
            ),
            "result_backend": "embedded"
            if self.embedded
            else f"{mask_url(backend)} ({self.sources['result_backend']})",
        }

    def apply_to_environ(self, environ: MutableMapping[str, str] | None = None) -> None:
        """Export the broker settings for the Celery app (which reads the environment)."""
        environ = os.environ if environ is None else environ
        for variable, celery_variable, value in (
            (ENV_BROKER_URL, ENV_CELERY_BROKER_URL, self.broker_url),
            (ENV_RESULT_BACKEND, ENV_CELERY_RESULT_BACKEND, self.result_backend),
        ):
            if value and not environ.get(variable) and not environ.get(celery_variable):
                environ[variable] = value


def resolve_services(
    config: ExperimentConfig | None,
    environ: Mapping[str, str] | None = None,
    database_url: str | None = None,
) -> Services:
    """Environment over config over defaults; `database_url` (a CLI flag) over all."""
    environ = os.environ if environ is None else environ
    sources: dict[str, str] = {}

    def pick(name: str, env_names: tuple[str, ...], configured: str | None) -> str | None:
        for variable in env_names:
            if environ.get(variable, "").strip():
                sources[name] = f"from ${variable}"
                return environ[variable].strip()
        if configured:
            sources[name] = "from the config file"
            return configured
        sources[name] = "default"
        return None

    db = pick("database", (ENV_DATABASE_URL,), config.database.url if config else None)
    if database_url and database_url != environ.get(ENV_DATABASE_URL, "").strip():
        db, sources["database"] = database_url, "from --db-url"
    broker = pick(
        "broker",
        (ENV_BROKER_URL, ENV_CELERY_BROKER_URL),
        config.broker.broker_url if config else None,
    )
    backend = pick(
        "result_backend",
        (ENV_RESULT_BACKEND, ENV_CELERY_RESULT_BACKEND),
        config.broker.result_backend if config else None,
    )
    return Services(db or DEFAULT_DATABASE_URL, broker, backend, sources)


def celery_app_for(services: Services) -> Any:
    """The Celery app for these services: `workers.app.app` when it matches, else a new one.

    Call `services.apply_to_environ()` first so a later `import workers.app`
    (by a resumed runner, for instance) builds the same app. A setting the
    workers' settings refuse (`WorkerConfigError`: a broker URL that is not a
    URL, a visibility timeout too short) raises `BrokerSettingsError` with
    that one-line message, which names the variable and the fix.
    """
    import workers.app as app_module
    from workers.errors import WorkerConfigError

    wanted = services.broker_url or EMBEDDED_BROKER_URL
    try:
        current = str(app_module.app.conf.broker_url)
        if current == wanted and (
            services.result_backend is None
            or str(app_module.app.conf.result_backend) == services.result_backend
        ):
            return app_module.app
        environ = dict(os.environ)
        environ.pop(ENV_CELERY_BROKER_URL, None)
        environ.pop(ENV_CELERY_RESULT_BACKEND, None)
        environ[ENV_BROKER_URL] = wanted
        if services.result_backend:
            environ[ENV_RESULT_BACKEND] = services.result_backend
        else:
            environ.pop(ENV_RESULT_BACKEND, None)
        return app_module.make_app(environ)
    except WorkerConfigError as exc:
        raise BrokerSettingsError(str(exc)) from None
