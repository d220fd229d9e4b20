"""indexes that keep a message's cost flat however much mail is stored (issue 9)

- the per-recipient acknowledgement cap counts a day's acknowledgements to one address,
  compared case-blind: an index on lower(to_address) and created_at makes it a lookup instead
  of a scan of every acknowledgement;
- the filing step claims the oldest stored message after a cursor: an index on (state, id)
  finds it without walking the messages already filed.

Revision ID: 0015_fast
Revises: 0013_web_users
Create Date: 2026-12-02 05:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_fast"
down_revision = "0013_web_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_acknowledgements_recipient_day", "acknowledgements", [sa.text("lower(to_address)"), "created_at"]
    )
    op.create_index("ix_messages_state_id", "messages", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_messages_state_id", table_name="messages")
    op.drop_index("ix_acknowledgements_recipient_day", table_name="acknowledgements")
