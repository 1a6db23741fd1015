"""Bad input gives a named error saying what to do, and changes nothing stored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from scheduler import (
    Experiment,
    Objective,
    OptimizationConfig,
    ParameterType,
    RangeParameter,
    Scheduler,
    SearchSpace,
)
from scheduler.local.runner import FunctionMetric
from scheduler.ops.cli.db import db
from scheduler.storage import (
    DBSettings,
    ExperimentLockedError,
    ExperimentNameConflictError,
    ExperimentNotFoundError,
    SchemaOutdatedError,
    SchemaTooNewError,
    SQLStore,
    StorageConnectionError,
    delete_experiment,
    list_experiments,
    load_experiment,
)
from scheduler.storage.sql import migrate as migrate_module
from scheduler.storage.sql.engine import dispose_engines, get_engine
from tests.storage.storage_helpers import fast_options, function_experiment, sobol_strategy


def test_sqlite_in_missing_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/bo.db"
    with pytest.raises(StorageConnectionError) as info:
        Scheduler(
            function_experiment(), sobol_strategy(), fast_options(), db_settings=DBSettings(url)
        )
    message = str(info.value)
    assert f"{tmp_path}/no/such/dir" in message and "mkdir -p" in message
    assert not (tmp_path / "no").exists()


def test_missing_postgres_database_masks_password(pg_base_url: str) -> None:
    user = pg_base_url.split("//", 1)[1].split("@", 1)[0]
    url = f"postgresql://{user}:s3cret-pw@127.0.0.1:5432/bo_no_such_database"
    with pytest.raises(StorageConnectionError) as info:
        list_experiments(DBSettings(url))
    message = str(info.value)
    assert "s3cret-pw" not in message and "***" in message
    assert "bo_no_such_database" in message and "createdb bo_no_such_database" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreachable_server() -> None:
    with pytest.raises(
        StorageConnectionError, match=r"postgresql\+psycopg2://bo:\*\*\*@127.0.0.1:1/x"
    ):
        SQLStore("postgresql+psycopg2://bo:pw@127.0.0.1:1/x")


def test_invalid_url() -> None:
    with pytest.raises(StorageConnectionError, match="not a valid SQLAlchemy URL"):
        SQLStore("not a url")


def test_unknown_experiment_lists_known_names(db_url: str) -> None:
    settings = DBSettings(db_url)
    for name in ("alpha", "beta"):
        SQLStore(settings).save_experiment(function_experiment(name), sobol_strategy())
    with pytest.raises(ExperimentNotFoundError) as info:
        Scheduler.from_stored_experiment("gamma", fast_options(), settings)
    assert "'gamma'" in str(info.value) and "'alpha', 'beta'" in str(info.value)
    with pytest.raises(ExperimentNotFoundError):
        delete_experiment("gamma", settings)
    assert list_experiments(settings) == ["alpha", "beta"]


def test_name_conflict_changes_nothing(db_url: str) -> None:
    settings = DBSettings(db_url)
    Scheduler(
        function_experiment(), sobol_strategy(), fast_options(), db_settings=settings
    ).run_n_trials(2)
    other = Experiment(
        "exp",
        SearchSpace([RangeParameter("x1", ParameterType.FLOAT, 0, 1)]),
        OptimizationConfig(Objective(FunctionMetric("branin"), minimize=True)),
        runner=function_experiment().runner,
    )
    with pytest.raises(ExperimentNameConflictError, match="search space") as info:
        Scheduler(other, sobol_strategy(), fast_options(), db_settings=settings)
    assert "delete_experiment('exp'" in str(info.value)
    stored = load_experiment("exp", settings)
    assert sorted(stored.search_space.parameters) == ["x1", "x2"] and stored.num_trials == 2
    # Same definition but without the stored trials: a different history.
    with pytest.raises(ExperimentNameConflictError, match="from_stored_experiment"):
        Scheduler(function_experiment(), sobol_strategy(), fast_options(), db_settings=settings)
    assert load_experiment("exp", settings).num_trials == 2


def test_same_definition_without_trials_attaches(db_url: str) -> None:
    settings = DBSettings(db_url)
    SQLStore(settings).save_experiment(function_experiment(), sobol_strategy())
    scheduler = Scheduler(
        function_experiment(), sobol_strategy(), fast_options(), db_settings=settings
    )
    scheduler.run_n_trials(2)
    assert load_experiment("exp", settings).num_trials == 2


def test_failed_save_is_rolled_back(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = function_experiment()
    Scheduler(experiment, sobol_strategy(), fast_options()).run_n_trials(2)  # in memory only

    def broken(*args: object) -> list[object]:
        raise RuntimeError("disk full")

    monkeypatch.setattr("scheduler.storage.sql.store.data_rows", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        SQLStore(db_url).save_experiment(experiment, sobol_strategy())
    assert list_experiments(db_url) == []


def test_delete_refused_while_running_then_allowed(db_url: str) -> None:
    settings = DBSettings(db_url)
    holder = SQLStore(DBSettings(db_url, owner_id="runner-1"))
    experiment = function_experiment()
    holder.save_experiment(experiment, sobol_strategy())
    holder.heartbeat(experiment)
    with pytest.raises(ExperimentLockedError, match="runner-1"):
        delete_experiment("exp", settings)
    holder.release(experiment)
    delete_experiment("exp", settings)
    assert list_experiments(settings) == []


@pytest.fixture
def newer_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The packaged migrations plus one more revision, as in a later release.

    Returns (the packaged head, the added revision on top of it).
    """
    head = migrate_module.head_revision()
    newer = f"{int(head) + 1:04d}"
    copy = tmp_path / "migrations"
    shutil.copytree(migrate_module.MIGRATIONS_DIR, copy)
    (copy / "versions" / f"{newer}_note.py").write_text(
        '"""Add a note column."""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "{newer}"\ndown_revision = "{head}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    with op.batch_alter_table("bo_experiments") as batch:\n'
        '        batch.add_column(sa.Column("note", sa.Text(), nullable=True))\n\n\n'
        "def downgrade() -> None:\n"
        '    with op.batch_alter_table("bo_experiments") as batch:\n'
        '        batch.drop_column("note")\n'
    )
    monkeypatch.setattr(migrate_module, "MIGRATIONS_DIR", copy)
    return head, newer


def test_outdated_schema_needs_upgrade_command(db_url: str, request: pytest.FixtureRequest) -> None:
    SQLStore(db_url).save_experiment(function_experiment(), sobol_strategy())  # at head
    dispose_engines()
    head, newer = request.getfixturevalue("newer_code")
    with pytest.raises(SchemaOutdatedError) as info:
        SQLStore(db_url)
    assert f"'{head}'" in str(info.value) and "bo-scheduler db upgrade --db-url" in str(info.value)

    runner = CliRunner()
    result = runner.invoke(db, ["current", "--url", db_url])
    assert result.exit_code == 0 and "outdated" in result.output
    result = runner.invoke(db, ["upgrade", "--url", db_url])
    assert result.exit_code == 0, result.output
    assert f"upgraded from {head} to {newer}" in result.output
    result = runner.invoke(db, ["current", "--url", db_url])
    assert f"revision {newer} (up to date)" in result.output
    dispose_engines()
    assert load_experiment("exp", db_url).name == "exp"  # data kept


def test_schema_from_newer_code_is_refused(db_url: str) -> None:
    SQLStore(db_url)
    with get_engine(db_url).begin() as conn:
        conn.execute(text("UPDATE bo_alembic_version SET version_num = '9999'"))
    dispose_engines()
    with pytest.raises(SchemaTooNewError, match="Upgrade the bo-scheduler package"):
        SQLStore(db_url)
