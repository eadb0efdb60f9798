"""Publishing schedules: weekly slots per channel (weekday + wall-clock time in the client's zone)

Revision ID: c5a7e0000005
Revises: c5a7e0000003
Create Date: 2026-11-22 10:30:00.000000
"""

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC

revision = "c5a7e0000005"
down_revision = "c5a7e0000003"
branch_labels = None
depends_on = None


# New tenant tables, protected like the others (see the initial migration).
NEW_TENANT_TABLES = ("channel_slots",)
TENANT_PREDICATE = (
    "current_setting('app.system', true) = 'on' OR client_id = NULLIF(current_setting('app.client_id', true), '')::uuid"
)


def upgrade() -> None:
    op.create_table(
        "channel_slots",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("channel_id", sa.GUID(length=16), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        # A wall-clock time without a zone: the zone is the client's, applied when occurrences are computed.
        sa.Column("local_time", sa.Time(timezone=False), nullable=False),
        sa.Column("client_id", sa.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_channel_slots_weekday")),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_slots_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_channel_slots_client_id_clients"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_slots")),
        sa.UniqueConstraint("channel_id", "weekday", "local_time", name="uq_channel_slots_channel_weekday_time"),
    )
    op.create_index(op.f("ix_channel_slots_client_id"), "channel_slots", ["client_id"], unique=False)
    for table in NEW_TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
        )


def downgrade() -> None:
    # Dropping a table drops its policies with it.
    op.drop_index(op.f("ix_channel_slots_client_id"), table_name="channel_slots")
    op.drop_table("channel_slots")
