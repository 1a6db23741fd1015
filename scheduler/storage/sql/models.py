"""SQLAlchemy 2 typed models: the tables bo-scheduler stores experiments in.

Every table is prefixed `bo_` so the schema can share a database. Alembic
migrations (`scheduler/storage/sql/migrations`) create them; a test checks the
migrations and these models agree. Definitions (search space, objectives,
runner, metrics, generation steps) are JSON: they are read whole, and a
schema change of the core model then needs no migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Alembic's own bookkeeping table, prefixed like ours.
VERSION_TABLE = "bo_alembic_version"

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


def _experiment_fk() -> ForeignKey:
    return ForeignKey("bo_experiments.id", ondelete="CASCADE")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class ExperimentRow(Base):
    """One experiment: its definition as JSON."""

    __tablename__ = "bo_experiments"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    search_space: Mapped[dict[str, Any]]
    optimization_config: Mapped[dict[str, Any] | None]
    runner: Mapped[dict[str, Any] | None]
    tracking_metrics: Mapped[list[Any]]
    time_created: Mapped[datetime]


class TrialRow(Base):
    """One trial: lifecycle status, runner metadata and timestamps."""

    __tablename__ = "bo_trials"
    __table_args__ = (UniqueConstraint("experiment_id", "trial_index", name="uq_bo_trials_index"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(_experiment_fk())
    trial_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    run_metadata: Mapped[dict[str, Any]]
    stop_metadata: Mapped[dict[str, Any]]
    time_created: Mapped[datetime]
    time_staged: Mapped[datetime | None]
    time_run_started: Mapped[datetime | None]
    time_completed: Mapped[datetime | None]
    failed_reason: Mapped[str | None] = mapped_column(Text)
    ttl_seconds: Mapped[float | None] = mapped_column(Float)
    generation_step: Mapped[str | None] = mapped_column(String(255))


class ArmRow(Base):
    """The parameters of a trial's arm (one arm per trial)."""

    __tablename__ = "bo_arms"
    __table_args__ = (
        UniqueConstraint("experiment_id", "name", name="uq_bo_arms_name"),
        Index("ix_bo_arms_trial", "experiment_id", "trial_index"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(_experiment_fk())
    trial_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    parameters: Mapped[dict[str, Any]]


class DataRow(Base):
    """One observation. Rows are only appended; `batch` numbers each save.

    A trial's newer batch replaces its older rows of the same metric, as
    `Experiment.attach_data` does in memory, so the loader keeps, per trial
    and metric, the rows of the latest batch.
    """

    __tablename__ = "bo_data"
    __table_args__ = (Index("ix_bo_data_trial", "experiment_id", "trial_index"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(_experiment_fk())
    batch: Mapped[int] = mapped_column(Integer)
    trial_index: Mapped[int] = mapped_column(Integer)
    arm_name: Mapped[str] = mapped_column(String(255))
    metric_name: Mapped[str] = mapped_column(String(255))
    mean: Mapped[float | None] = mapped_column(Float)
    sem: Mapped[float | None] = mapped_column(Float)
    step: Mapped[float | None] = mapped_column(Float)


class GenerationStrategyRow(Base):
    """The strategy's step definitions (to rebuild it) and generator state."""

    __tablename__ = "bo_generation_strategies"

    experiment_id: Mapped[int] = mapped_column(_experiment_fk(), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[dict[str, Any]]
    state: Mapped[dict[str, Any]]
    time_updated: Mapped[datetime]


class LeaseRow(Base):
    """Who runs the experiment now; `version` grows with every new holder."""

    __tablename__ = "bo_leases"

    experiment_id: Mapped[int] = mapped_column(_experiment_fk(), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String(255))
    heartbeat: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=0)


class ControlRow(Base):
    """Operator control of one experiment, by name: its run config and stop requests.

    Written by `bo-scheduler run` / `stop` and read by the daemon (see
    `scheduler.storage.sql.control`). Keyed by name with no foreign key to
    `bo_experiments`: the config is saved before the experiment's rows exist,
    and the row outlives a deleted experiment so a stop counter never goes back.
    `config` is JSON text, stored and returned verbatim.
    """

    __tablename__ = "bo_control"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    config: Mapped[str | None] = mapped_column(Text)
    config_source: Mapped[str | None] = mapped_column(Text)
    stop_counter: Mapped[int] = mapped_column(Integer, default=0)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    stop_requested_by: Mapped[str | None] = mapped_column(String(255))
    stop_requested_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
