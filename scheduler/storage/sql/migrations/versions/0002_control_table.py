"""Operator control table `bo_control`, taking over the legacy `boctl_experiments`.

Until this revision `ControlStore` created its own table `boctl_experiments`
with `create_all`, outside the migrations. Upgrading creates `bo_control`
(same columns), copies every legacy row (stored configs and stop counters
survive, so `resume NAME` and running daemons' stop baselines are unchanged)
and drops the legacy table. Downgrading does the reverse, so the bo-scheduler
that revision 0001 belongs to finds its rows where it looks for them.

The legacy table is looked up in the live database, so this revision needs
an online migration (`bo-scheduler db upgrade`), not `--sql` output.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "bo_control"
LEGACY_TABLE = "boctl_experiments"
_TS = sa.DateTime(timezone=True)
COLUMNS = (
    "name",
    "config",
    "config_source",
    "stop_counter",
    "stop_reason",
    "stop_requested_by",
    "stop_requested_at",
    "updated_at",
)


def _columns() -> list[sa.Column]:
    """The control columns, as the legacy table and `ControlRow` both have them."""
    return [
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("config", sa.Text(), nullable=True),
        sa.Column("config_source", sa.Text(), nullable=True),
        sa.Column("stop_counter", sa.Integer(), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("stop_requested_by", sa.String(255), nullable=True),
        sa.Column("stop_requested_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    ]


def _table(name: str) -> sa.TableClause:
    """A lightweight handle on `name` for INSERT ... SELECT (no reflection needed)."""
    return sa.table(name, *(sa.column(c) for c in COLUMNS))


def _has_table(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name)


def _copy_missing(source: sa.TableClause, target: sa.TableClause) -> None:
    """INSERT ... SELECT the rows of `source` whose name `target` lacks (values verbatim)."""
    names = sa.select(target.c.name)
    rows = sa.select(*(source.c[c] for c in COLUMNS)).where(source.c.name.not_in(names))
    op.execute(sa.insert(target).from_select(list(COLUMNS), rows))


def upgrade() -> None:
    op.create_table(TABLE, *_columns())
    if _has_table(LEGACY_TABLE):
        _copy_missing(_table(LEGACY_TABLE), _table(TABLE))
        op.drop_table(LEGACY_TABLE)


def downgrade() -> None:
    # The legacy table may exist again if an old bo-scheduler ran meanwhile: keep its rows.
    if not _has_table(LEGACY_TABLE):
        op.create_table(LEGACY_TABLE, *_columns())
    _copy_missing(_table(TABLE), _table(LEGACY_TABLE))
    op.drop_table(TABLE)
