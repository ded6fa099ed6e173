"""enrollment notice key: which occurrence a one-off message is (its outbox key)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enrollments") as batch_op:
        batch_op.add_column(sa.Column("notice_key", sa.String(length=64), nullable=True))
    # A notice waiting now has not been written yet: a key of its own keeps it apart
    # from the earlier notice of the same enrollment (whose key had none).
    op.execute("UPDATE enrollments SET notice_key = 'migrated' WHERE notice IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("enrollments") as batch_op:
        batch_op.drop_column("notice_key")
