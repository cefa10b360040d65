"""The run's result record (the learner's RunResult as JSON) next to the older summary columns.

Rows written before this revision keep their metrics, baseline_metrics and history; their result stays null,
since what it holds (the plan's metric declarations, every baseline, provenance) was never stored for them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("result", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("result")
