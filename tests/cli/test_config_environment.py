"""Config and environment: variables override the config, secrets never show."""

from __future__ import annotations

from scheduler.core.masking import mask_secrets, mask_url
from scheduler.ops.config import parse_config, resolve_services
from scheduler.ops.env import DEFAULT_DATABASE_URL
from tests.cli.conftest import config_data


def test_environment_overrides_the_config() -> None:
    config = parse_config(
        config_data(
            database={"url": "sqlite:///from-config.db"},
            broker={"broker_url": "redis://:pw@cfg:6379/0", "result_backend": "redis://cfg/1"},
        )
    )
    from_config = resolve_services(config, environ={})
    assert from_config.database_url == "sqlite:///from-config.db"
    assert from_config.broker_url == "redis://:pw@cfg:6379/0"
    assert from_config.sources["broker"] == "from the config file"
    env = {
        "BO_DATABASE_URL": "postgresql://u:secret@db/bo",
        "BO_BROKER_URL": "redis://env:6379/3",
        "BO_RESULT_BACKEND": "redis://env:6379/4",
    }
    overridden = resolve_services(config, environ=env)
    assert overridden.database_url == "postgresql://u:secret@db/bo"
    assert overridden.broker_url == "redis://env:6379/3"
    assert overridden.result_backend == "redis://env:6379/4"
    assert overridden.sources["database"] == "from $BO_DATABASE_URL"
    # Celery's own variable counts as the environment too.
    celery_env = resolve_services(config, environ={"CELERY_BROKER_URL": "redis://c:1/0"})
    assert celery_env.broker_url == "redis://c:1/0"
    # A flag beats both; nothing at all means the default SQLite file and embedded mode.
    assert resolve_services(config, env, "sqlite:///flag.db").database_url == "sqlite:///flag.db"
    default = resolve_services(None, environ={})
    assert default.database_url == DEFAULT_DATABASE_URL and default.embedded
    described = " ".join(overridden.describe().values())
    assert "secret" not in described and "u:***@db" in described


def test_environment_applies_to_the_celery_app_settings() -> None:
    config = parse_config(config_data(broker={"broker_url": "redis://cfg:6379/0"}))
    environ: dict[str, str] = {}
    resolve_services(config, environ=environ).apply_to_environ(environ)
    assert environ == {"BO_BROKER_URL": "redis://cfg:6379/0"}
    environ = {"CELERY_BROKER_URL": "redis://mine/0"}
    resolve_services(config, environ=environ).apply_to_environ(environ)
    assert "BO_BROKER_URL" not in environ  # never two different broker variables


def test_passwords_are_masked() -> None:
    assert mask_url("redis://:s3cr3t@host:6379/0") == "redis://:***@host:6379/0"
    assert mask_url("postgresql+psycopg2://bo:p%40ss@db:5432/bo") == (
        "postgresql+psycopg2://bo:***@db:5432/bo"
    )
    assert mask_url("sqlite:///bo.db") == "sqlite:///bo.db"
    text = "connect redis://:pw1@a:1/0 and amqp://user:pw2@b// failed"
    assert mask_secrets(text) == "connect redis://:***@a:1/0 and amqp://user:***@b// failed"


def test_unparsable_urls_are_still_masked() -> None:
    assert mask_url(None) == "-"
    assert mask_url("redis://:pw@host:notaport/0") == "redis://:***@host:notaport/0"
    # An unencoded @ in the password: masked up to the last @, never shown in part.
    assert "ss" not in mask_url("redis://:p@ss@host:bad/0")
