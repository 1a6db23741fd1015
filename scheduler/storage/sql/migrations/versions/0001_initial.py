"""Initial schema: experiments, trials, arms, data, generation strategies, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def _experiment_fk(primary_key: bool = False) -> sa.Column:
    return sa.Column(
        "experiment_id",
        _ID,
        sa.ForeignKey("bo_experiments.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "bo_experiments",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("search_space", sa.JSON(), nullable=False),
        sa.Column("optimization_config", sa.JSON(), nullable=True),
        sa.Column("runner", sa.JSON(), nullable=True),
        sa.Column("tracking_metrics", sa.JSON(), nullable=False),
        sa.Column("time_created", _TS, nullable=False),
    )
    op.create_table(
        "bo_trials",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _experiment_fk(),
        sa.Column("trial_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_metadata", sa.JSON(), nullable=False),
        sa.Column("stop_metadata", sa.JSON(), nullable=False),
        sa.Column("time_created", _TS, nullable=False),
        sa.Column("time_staged", _TS, nullable=True),
        sa.Column("time_run_started", _TS, nullable=True),
        sa.Column("time_completed", _TS, nullable=True),
        sa.Column("failed_reason", sa.Text(), nullable=True),
        sa.Column("ttl_seconds", sa.Float(), nullable=True),
        sa.Column("generation_step", sa.String(255), nullable=True),
        sa.UniqueConstraint("experiment_id", "trial_index", name="uq_bo_trials_index"),
    )
    op.create_table(
        "bo_arms",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _experiment_fk(),
        sa.Column("trial_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.UniqueConstraint("experiment_id", "name", name="uq_bo_arms_name"),
    )
    op.create_index("ix_bo_arms_trial", "bo_arms", ["experiment_id", "trial_index"])
    op.create_table(
        "bo_data",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _experiment_fk(),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("trial_index", sa.Integer(), nullable=False),
        sa.Column("arm_name", sa.String(255), nullable=False),
        sa.Column("metric_name", sa.String(255), nullable=False),
        sa.Column("mean", sa.Float(), nullable=True),
        sa.Column("sem", sa.Float(), nullable=True),
        sa.Column("step", sa.Float(), nullable=True),
    )
    op.create_index("ix_bo_data_trial", "bo_data", ["experiment_id", "trial_index"])
    op.create_table(
        "bo_generation_strategies",
        _experiment_fk(primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("time_updated", _TS, nullable=False),
    )
    op.create_table(
        "bo_leases",
        _experiment_fk(primary_key=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("heartbeat", _TS, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bo_leases")
    op.drop_table("bo_generation_strategies")
    op.drop_index("ix_bo_data_trial", table_name="bo_data")
    op.drop_table("bo_data")
    op.drop_index("ix_bo_arms_trial", table_name="bo_arms")
    op.drop_table("bo_arms")
    op.drop_table("bo_trials")
    op.drop_table("bo_experiments")
