"""Runs logged through the MLflow tracking API: tracking experiments, and each external run's metrics, params,
tags and dataset inputs; experiments gain their source, tracking experiment and MLflow lifecycle stage.

MLflow's "Default" experiment (id 0) is created here, since clients log into it without creating it.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-02
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _run_id_column(primary_key: bool) -> sa.Column[str]:
    return sa.Column(
        "experiment_id",
        sa.String(32),
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="worker"))
        batch.add_column(sa.Column("tracking_experiment_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"))
        batch.create_index("ix_experiments_tracking_experiment_id", ["tracking_experiment_id"])
    tracking = op.create_table(
        "tracking_experiments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.String(32), nullable=False, index=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "name"),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        tracking,
        [
            {
                "id": 0,
                "project_id": "default",
                "name": "Default",
                "lifecycle_stage": "active",
                "tags": {},
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    op.create_table(
        "run_metrics",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        _run_id_column(primary_key=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_run_metrics_run_key_step", "run_metrics", ["experiment_id", "key", "step"])
    for table, value_type in (("run_params", sa.Text()), ("run_tags", sa.Text())):
        op.create_table(
            table,
            _run_id_column(primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", value_type, nullable=False),
        )
    op.create_table(
        "run_inputs",
        _run_id_column(primary_key=True),
        sa.Column("name", sa.String(500), primary_key=True),
        sa.Column("digest", sa.String(36), primary_key=True),
        sa.Column("dataset", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    for table in ("run_inputs", "run_tags", "run_params", "run_metrics", "tracking_experiments"):
        op.drop_table(table)
    with op.batch_alter_table("experiments") as batch:
        batch.drop_index("ix_experiments_tracking_experiment_id")
        batch.drop_column("lifecycle_stage")
        batch.drop_column("tracking_experiment_id")
        batch.drop_column("source")
