"""Each external run's latest value per metric, kept as values are logged (reading a run no longer ranks its whole
history); filled from the history already stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_latest_metrics",
        sa.Column(
            "experiment_id",
            sa.String(32),
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
    )
    # The order the API ranked a run's history by before this table existed (NaN, stored as null, lowest).
    op.execute(
        """
        INSERT INTO run_latest_metrics (experiment_id, key, value, step, timestamp)
        SELECT experiment_id, key, value, step, timestamp FROM (
            SELECT experiment_id, key, value, step, timestamp, row_number() OVER (
                PARTITION BY experiment_id, key
                ORDER BY step DESC, timestamp DESC, CASE WHEN value IS NULL THEN 0 ELSE 1 END DESC, value DESC, id DESC
            ) AS rank
            FROM run_metrics
        ) AS ranked
        WHERE rank = 1
        """
    )


def downgrade() -> None:
    op.drop_table("run_latest_metrics")
