"""Models an MLflow client logs (MLflow 3's logged models), kept beside their source run.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("id", sa.String(34), primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tracking_experiment_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("model_type", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_logged_models_run_id", "logged_models", ["run_id"])
    op.create_index("ix_logged_models_project_id", "logged_models", ["project_id"])


def downgrade() -> None:
    op.drop_table("logged_models")
