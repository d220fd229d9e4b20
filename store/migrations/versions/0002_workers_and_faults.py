"""workers and faults: filing attempts, acknowledgement claims, service state

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 05:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    with op.batch_alter_table("acknowledgements") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("failed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("retry_allowed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_acknowledgements_status_due", ["status", "next_attempt_at"])
    with op.batch_alter_table("cycles") as batch:
        batch.add_column(sa.Column("worker", sa.String(length=200), nullable=True))
    op.create_table(
        "service_state",
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_state")
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("worker")
    with op.batch_alter_table("acknowledgements") as batch:
        batch.drop_index("ix_acknowledgements_status_due")
        for name in ("retry_allowed", "failed_at", "claimed_until", "claimed_by"):
            batch.drop_column(name)
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("last_error")
        batch.drop_column("attempts")
