"""Work routing: the queue an experiment was sent to, and the peak memory its run used (which the workers'
memory guard learns from).

A sweep's trials go to the sweep's queue. Rows written before this revision ran on the one queue there was: they
get "cpu", the default queue.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("queue", sa.String(64), nullable=False, server_default="cpu"))
        batch.add_column(sa.Column("peak_rss_mb", sa.Integer(), nullable=True))
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("queue", sa.String(64), nullable=False, server_default="cpu"))


def downgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("queue")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("peak_rss_mb")
        batch.drop_column("queue")
