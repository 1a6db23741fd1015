"""The broker a run used is stored with its config (no password), for status and resume."""

from __future__ import annotations

from scheduler.core.masking import without_password
from scheduler.ops.config import Services, parse_config, resolve_services
from scheduler.ops.service import _config_to_store
from tests.cli.conftest import config_data


def test_the_stored_config_names_the_runs_broker_without_its_password() -> None:
    config = parse_config(config_data())  # no broker: section; the run had it from $BO_BROKER_URL
    services = Services(
        "sqlite:///bo.db",
        "redis://:s3cret@redis-host:6379/0",
        "redis://:s3cret@redis-host:6379/1",
        {"database": "default", "broker": "from $BO_BROKER_URL", "result_backend": "env"},
    )
    stored = _config_to_store(config, services)
    assert stored["broker"] == {
        "broker_url": "redis://redis-host:6379/0",
        "result_backend": "redis://redis-host:6379/1",
    }
    assert "s3cret" not in repr(stored)
    # `status` from a shell without the variable finds the fleet, not "embedded".
    seen = resolve_services(parse_config(stored), environ={})
    assert not seen.embedded and seen.broker_url == "redis://redis-host:6379/0"


def test_an_embedded_run_stores_no_broker_and_passwords_leave_every_url() -> None:
    config = parse_config(config_data(broker={"broker_url": "redis://u:pw@h:6379/0"}))
    embedded = Services("sqlite:///bo.db", None, None, {"database": "d", "broker": "b"})
    assert _config_to_store(config, embedded)["broker"] == {
        "broker_url": None,
        "result_backend": None,
    }
    assert without_password("redis://u:pw@h:6379/0") == "redis://u@h:6379/0"
    assert without_password("rediss://:pw@h:6380/0?ssl_cert_reqs=required") == (
        "rediss://h:6380/0?ssl_cert_reqs=required"
    )
    assert without_password("redis://h:6379/0") == "redis://h:6379/0"
