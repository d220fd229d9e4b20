"""personal data: when raw bytes were removed, and erasure marks

Revision ID: 0011_personal_data
Revises: 0002
Create Date: 2026-12-02 04:40:00

Retention removes raw originals and acknowledgement bytes (raw becomes b"" or NULL and
raw_removed_at says when); erasure removes a respondent's personal data and marks the rows with
erased_at and erased_by. Only nullable columns are added, so existing rows need no backfill.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011_personal_data"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = {
    "messages": ("raw_removed_at", "raw_removed_why", "erased_at", "erased_by"),
    "responses": ("erased_at", "erased_by"),
    "acknowledgements": ("raw_removed_at", "erased_at"),
}


def _column(name: str) -> sa.Column:
    kind = sqlmodel.sql.sqltypes.UTCDateTime() if name.endswith("_at") else sqlmodel.sql.sqltypes.AutoString()
    return sa.Column(name, kind, nullable=True)


def upgrade() -> None:
    for table, names in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in names:
                batch_op.add_column(_column(name))


def downgrade() -> None:
    for table, names in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in reversed(names):
                batch_op.drop_column(name)
