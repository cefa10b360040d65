"""The app catalog: each app as the processes that have it installed published it, so the API needs no app code.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_catalog",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_app_catalog_project_id", "app_catalog", ["project_id"])


def downgrade() -> None:
    op.drop_table("app_catalog")
