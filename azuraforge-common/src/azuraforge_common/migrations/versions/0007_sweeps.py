"""Hyperparameter sweeps: the sweeps table, and each trial's number and sampled values on its experiment.

Optuna's own tables (studies, trials, ...) are created by its RDBStorage on first use, in this same database
(see azuraforge_common.sweeps).

Revision ID: 0007
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("app", sa.String(200), nullable=False),
        sa.Column("base_config", sa.JSON(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("objective_metric", sa.String(200), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("sampler", sa.String(16), nullable=False),
        sa.Column("pruner", sa.String(16), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("parallelism", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_sweeps_project_id", "sweeps", ["project_id"])
    op.create_index("ix_sweeps_state", "sweeps", ["state"])
    op.create_index("ix_sweeps_created_at", "sweeps", ["created_at"])
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("trial_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trial_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("trial_params")
        batch.drop_column("trial_number")
    op.drop_table("sweeps")
