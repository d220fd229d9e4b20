"""an index of the acknowledgements still to be copied to the Sent folder (issue 9)

Each send step looks for sent acknowledgements whose Sent copy is not made yet
(store.models.COPY_DUE). Through the status index that read every acknowledgement ever sent; with
both columns leading this index, it reads only the few waiting. (A partial index would be smaller,
but SQLite's planner, without statistics, prefers the status index to it.)

Revision ID: 0017_copy_due
Revises: 0016_provenance
Create Date: 2026-12-03 17:20:00
"""

from alembic import op

revision = "0017_copy_due"
down_revision = "0016_provenance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_acknowledgements_copy_due",
        "acknowledgements",
        ["copied_to_sent", "status", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_acknowledgements_copy_due", table_name="acknowledgements")
