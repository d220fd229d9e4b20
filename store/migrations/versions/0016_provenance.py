"""provenance: how each respondent-level field of a response was found

Revision ID: 0016_provenance
Revises: 0015_fast
Create Date: 2026-12-02 05:50:00

The form reader says how it found each field it filed (parsers.model.Reading.found). Per question
it is kept inside the answers JSON (answers[qid]["found"]); the respondent's fields, the boxes and
contact-again go in this JSON column. Nullable: responses filed before have no record of it, and
the page says so rather than guessing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_provenance"
down_revision = "0015_fast"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("found", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_column("found")
