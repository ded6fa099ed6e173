"""trigger scans: where each sequence's trigger last looked; invoices by update time;
paused enrollments by the end of their pause

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trigger_scans",
        sa.Column(
            "sequence_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("scanned_for", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scanned_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("full_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        *(
            sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)
            for name in ("max_invoice_id", "max_customer_id")
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"], ["sequences.id"],
            name=op.f("fk_trigger_scans_sequence_id_sequences"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sequence_id", name=op.f("pk_trigger_scans")),
    )
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_updated_at"), ["updated_at"], unique=False)
    paused = sa.text("state = 'paused'")
    op.create_index(
        "ix_enrollments_paused_until", "enrollments", ["paused_until"],
        postgresql_where=paused, sqlite_where=paused,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_enrollments_paused_until", table_name="enrollments")
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_updated_at"))
    op.drop_table("trigger_scans")
