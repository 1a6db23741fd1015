"""The workers' settings, parsed from the environment (twelve-factor).

:func:`build_config` is a pure function from environment variables to Celery
settings; it raises :class:`~workers.errors.WorkerConfigError` naming the
variable and the fix. ``workers.app`` calls it when the app is first used, not
at import, so a bad setting never breaks a command that does not need the app.

With nothing set the app runs *embedded*: kombu's in-memory broker and an
in-process cache result backend, for a worker started inside the scheduler's
process. With ``BO_BROKER_URL=redis://...`` it runs a fleet; the result
backend defaults to the broker's Redis.

Variables read (see :data:`CELERY_ENV_SETTINGS` for Celery's own names):

- ``BO_BROKER_URL`` (or Celery's ``CELERY_BROKER_URL``)
- ``BO_RESULT_BACKEND`` (or Celery's ``CELERY_RESULT_BACKEND``)
- ``BO_TRIAL_SOFT_TIME_LIMIT`` seconds per trial (default 6 h; hard limit a bit above)
- ``BO_VISIBILITY_TIMEOUT`` seconds before Redis redelivers an unacked trial
  (default 12 h; must exceed the hard time limit by :func:`visibility_margin`,
  else long trials run twice)
- ``BO_RESULT_EXPIRES`` seconds results are kept (default and minimum 7 days; 0 = forever)
- ``BO_OBJECTIVE_MODULES`` comma-separated modules that register objectives,
  imported when a ``celery worker`` starts
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from workers.errors import WorkerConfigError
from workers.protocol import DEFAULT_QUEUE

#: The hardened Redis transport (``workers.broker``), installed as kombu's ``redis``.
BROKER_TRANSPORT: Final = "workers.broker:Transport"
#: Celery app main name.
APP_NAME: Final = "bo_scheduler"

# Environment variables.
ENV_BROKER_URL: Final = "BO_BROKER_URL"
ENV_RESULT_BACKEND: Final = "BO_RESULT_BACKEND"
ENV_OBJECTIVE_MODULES: Final = "BO_OBJECTIVE_MODULES"
ENV_TRIAL_SOFT_TIME_LIMIT: Final = "BO_TRIAL_SOFT_TIME_LIMIT"
ENV_RESULT_EXPIRES: Final = "BO_RESULT_EXPIRES"
ENV_VISIBILITY_TIMEOUT: Final = "BO_VISIBILITY_TIMEOUT"
# Celery's own names, which Celery itself also reads from the environment.
ENV_CELERY_BROKER_URL: Final = "CELERY_BROKER_URL"
ENV_CELERY_RESULT_BACKEND: Final = "CELERY_RESULT_BACKEND"

# Embedded mode (nothing configured): everything in one process.
EMBEDDED_BROKER_URL: Final = "memory://"
EMBEDDED_RESULT_BACKEND: Final = "cache+memory://"
#: kombu's in-memory transport polls once a second unless told otherwise.
EMBEDDED_POLLING_INTERVAL: Final = 0.005

# Defaults, in seconds.
DEFAULT_TRIAL_SOFT_TIME_LIMIT: Final = 6 * 3600
DEFAULT_VISIBILITY_TIMEOUT: Final = 12 * 3600
DEFAULT_RESULT_EXPIRES: Final = 7 * 24 * 3600
#: Shortest result lifetime accepted: a scheduler that was down over a long
#: weekend must still find the results of the trials it had sent.
MIN_RESULT_EXPIRES: Final = 7 * 24 * 3600


def hard_time_limit(soft_time_limit: int) -> int:
    """Hard limit a bit above the soft one: time for the task to record its failure."""
    return soft_time_limit + max(5, min(300, soft_time_limit // 10))


def visibility_margin(hard_limit: int) -> int:
    """How much longer than the hard limit the visibility timeout must be, at least.

    Redis redelivers a message that is unacknowledged for the visibility
    timeout, counted from its delivery. A trial killed at its hard limit is
    stored FAILURE and acknowledged a moment later, by the worker's parent
    process, while the pool restarts; a visibility timeout barely above the
    limit can redeliver the message inside that moment. The margin covers the
    delivery-to-start delay and that moment (and a redelivered copy that
    comes anyway finds the trial's stored outcome and is dropped: ``workers.tasks``).
    """
    return max(1, hard_limit // 20)


logger = logging.getLogger(__name__)

_REDIS_SCHEMES = ("redis", "rediss")
_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "cert_required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "cert_optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "cert_none": ssl.CERT_NONE,
}
_SSL_FILE_KEYS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


# ------------------------------------------------------------------ parsing


def _get(environ: Mapping[str, str], name: str) -> str | None:
    """The stripped value of ``name``, or None when unset or blank."""
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _seconds(
    environ: Mapping[str, str], name: str, default: int, *, allow_zero: bool = False
) -> int:
    raw = _get(environ, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0 or (value == 0 and not allow_zero):
        lowest = "0" if allow_zero else "1"
        raise WorkerConfigError(
            f"{name} must be a whole number of seconds >= {lowest}, "
            f"e.g. {name}={default}; got {raw!r}"
        )
    return value


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise WorkerConfigError(f"{name} must be an integer >= 1, e.g. {name}=4; got {raw!r}")
    return value


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise WorkerConfigError(f"{name} must be an integer >= 0, e.g. {name}=10; got {raw!r}")
    return value


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise WorkerConfigError(
            f"{name} must be a number of seconds > 0, e.g. {name}=30; got {raw!r}"
        )
    return value


def _boolean(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise WorkerConfigError(f"{name} must be true or false, got {raw!r}")


def _text(name: str, raw: str) -> str:
    return raw


#: Celery settings that may be given as ``CELERY_<SETTING NAME IN CAPITALS>``.
#: Security-relevant settings (serializers, accepted content, acks) are not
#: among them on purpose.
CELERY_ENV_SETTINGS: dict[str, Callable[[str, str], Any]] = {
    "worker_concurrency": _positive_int,
    "worker_prefetch_multiplier": _positive_int,
    "worker_max_tasks_per_child": _positive_int,
    "worker_max_memory_per_child": _positive_int,
    "worker_hijack_root_logger": _boolean,
    "broker_pool_limit": _non_negative_int,
    "broker_connection_timeout": _positive_float,
    "broker_heartbeat": _positive_float,
    "broker_connection_max_retries": _non_negative_int,
    "redis_max_connections": _positive_int,
    "redis_socket_timeout": _positive_float,
    "redis_socket_connect_timeout": _positive_float,
    "redis_backend_health_check_interval": _positive_int,
    "result_backend_always_retry": _boolean,
    "result_backend_max_retries": _non_negative_int,
    "task_default_queue": _text,
}


def _url(environ: Mapping[str, str], ours: str, celerys: str) -> str | None:
    """Our variable, or Celery's; both set and different is an error (Celery reads its own)."""
    mine, theirs = _get(environ, ours), _get(environ, celerys)
    if mine and theirs and mine != theirs:
        raise WorkerConfigError(
            f"{ours} and {celerys} are both set and differ; Celery itself reads {celerys}, "
            "so unset one of them"
        )
    return mine or theirs


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _redis_ssl_options(url: str, variable: str) -> dict[str, Any]:
    """SSL options for a ``rediss://`` URL; certificates are verified unless it says otherwise."""
    query = parse_qs(urlsplit(url).query)
    options: dict[str, Any] = {}
    raw_reqs = query.get("ssl_cert_reqs", ["required"])[-1]
    try:
        options["ssl_cert_reqs"] = _CERT_REQS[raw_reqs.lower()]
    except KeyError:
        raise WorkerConfigError(
            f"{variable} has ssl_cert_reqs={raw_reqs!r}; use required, optional or none, "
            "e.g. rediss://:password@host:6380/0?ssl_cert_reqs=required"
        ) from None
    for key in _SSL_FILE_KEYS:
        if key in query:
            options[key] = query[key][-1]
    return options


def _with_cert_reqs(url: str) -> str:
    """Add ``ssl_cert_reqs=required`` to a rediss URL lacking it (Celery's backend demands it)."""
    if "ssl_cert_reqs=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}ssl_cert_reqs=required"


def _check_url(url: str, variable: str) -> None:
    if "://" not in url:
        raise WorkerConfigError(
            f"{variable} must be a URL such as redis://:password@host:6379/0, got {url!r}"
        )
    if _scheme(url) in _REDIS_SCHEMES:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError as exc:
            raise WorkerConfigError(f"{variable} is not a valid Redis URL: {exc}") from None
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise WorkerConfigError(
                f"{variable} must end in a database number, e.g. redis://host:6379/0; "
                f"got path {path!r}"
            )


# ------------------------------------------------------------------- config


def build_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """Celery settings for this environment; raises WorkerConfigError on bad values."""
    broker = _url(environ, ENV_BROKER_URL, ENV_CELERY_BROKER_URL) or EMBEDDED_BROKER_URL
    _check_url(broker, ENV_BROKER_URL)
    backend = _url(environ, ENV_RESULT_BACKEND, ENV_CELERY_RESULT_BACKEND)
    broker_scheme = _scheme(broker)
    if backend is None:
        if broker_scheme in _REDIS_SCHEMES:
            backend = broker
        elif broker_scheme == "memory":
            backend = EMBEDDED_RESULT_BACKEND
        else:
            raise WorkerConfigError(
                f"{ENV_RESULT_BACKEND} must be set when the broker is {broker_scheme}://; "
                f"e.g. {ENV_RESULT_BACKEND}=redis://host:6379/1"
            )
    _check_url(backend, ENV_RESULT_BACKEND)

    soft_limit = _seconds(environ, ENV_TRIAL_SOFT_TIME_LIMIT, DEFAULT_TRIAL_SOFT_TIME_LIMIT)
    hard_limit = hard_time_limit(soft_limit)
    visibility = _seconds(environ, ENV_VISIBILITY_TIMEOUT, DEFAULT_VISIBILITY_TIMEOUT)
    least = hard_limit + visibility_margin(hard_limit)
    if visibility < least:
        raise WorkerConfigError(
            f"{ENV_VISIBILITY_TIMEOUT}={visibility} must be longer than the hard time limit of a "
            f"trial ({hard_limit} s, from {ENV_TRIAL_SOFT_TIME_LIMIT}={soft_limit}) by a margin, "
            f"or Redis redelivers running trials and they run twice; set "
            f"{ENV_VISIBILITY_TIMEOUT}={least} or more, or lower {ENV_TRIAL_SOFT_TIME_LIMIT}"
        )
    expires = _seconds(environ, ENV_RESULT_EXPIRES, DEFAULT_RESULT_EXPIRES, allow_zero=True)
    if 0 < expires < MIN_RESULT_EXPIRES:
        raise WorkerConfigError(
            f"{ENV_RESULT_EXPIRES}={expires} is too short: results must outlive a scheduler "
            "outage; "
            f"use at least {MIN_RESULT_EXPIRES} (7 days) or 0 to keep them forever"
        )

    config: dict[str, Any] = {
        "broker_url": broker,
        "result_backend": backend,
        # Only JSON crosses the broker: a pickle message is refused unread.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # A worker that dies mid-trial leaves the message to be redelivered.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A redelivered trial that already succeeded is not run again.
        "worker_deduplicate_successful_tasks": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Backend writes wait for Redis to come back instead of failing: else a trial
        # cancelled on a broker drop is recorded REVOKED and acked, never redelivered.
        "result_backend_always_retry": True,
        "broker_connection_retry_on_startup": True,
        # The args the scheduler reads back. STARTED is stored by the task itself,
        # once its message copy has claimed the trial (workers.claim).
        "task_track_started": False,
        "result_extended": True,
        "result_expires": expires or None,
        "task_soft_time_limit": soft_limit,
        "task_time_limit": hard_limit,
        # Events for Flower.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_default_queue": DEFAULT_QUEUE,
        "include": ["workers.tasks"],
    }
    if broker_scheme == "memory":
        config["broker_transport_options"] = {"polling_interval": EMBEDDED_POLLING_INTERVAL}
    elif broker_scheme in _REDIS_SCHEMES:
        # The hardened transport (workers.broker) is installed as kombu's redis://
        # transport by workers.app, so the URL stays redis:// for Flower and tools.
        config["broker_transport_options"] = {"visibility_timeout": visibility}
    if broker_scheme == "rediss":
        config["broker_use_ssl"] = _redis_ssl_options(broker, ENV_BROKER_URL)
    if _scheme(backend) == "rediss":
        config["redis_backend_use_ssl"] = _redis_ssl_options(backend, ENV_RESULT_BACKEND)
        config["result_backend"] = _with_cert_reqs(backend)

    for setting, parse in CELERY_ENV_SETTINGS.items():
        variable = f"CELERY_{setting.upper()}"
        raw = _get(environ, variable)
        if raw is not None:
            config[setting] = parse(variable, raw)
    return config
