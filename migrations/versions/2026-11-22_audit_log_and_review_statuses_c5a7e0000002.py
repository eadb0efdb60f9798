"""Audit log of story workflow; room for the longer review statuses

Revision ID: c5a7e0000002
Revises: c5a7e0000001
Create Date: 2026-11-22 07:30:00
"""

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC

revision = "c5a7e0000002"
down_revision = "c5a7e0000001"
branch_labels = None
depends_on = None

TENANT_PREDICATE = (
    "current_setting('app.system', true) = 'on' OR client_id = NULLIF(current_setting('app.client_id', true), '')::uuid"
)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("story_id", sa.GUID(length=16), nullable=True),
        sa.Column("actor_id", sa.GUID(length=16), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False, server_default="{}"),
        sa.Column("client_id", sa.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_audit_events_actor_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_audit_events_client_id_clients"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"], name=op.f("fk_audit_events_story_id_stories"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_client_id"), "audit_events", ["client_id"], unique=False)
    op.create_index(
        "ix_audit_events_client_created", "audit_events", ["client_id", sa.text("created_at DESC"), sa.text("id DESC")]
    )
    op.create_index("ix_audit_events_story", "audit_events", ["story_id", sa.text("created_at DESC")])
    op.execute("ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_events FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON audit_events USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
    )
    # "changes_requested" is 17 characters.
    op.alter_column("stories", "status", type_=sa.String(length=24), existing_type=sa.String(length=16))


def downgrade() -> None:
    op.execute("SELECT set_config('app.system', 'on', true)")
    op.execute("UPDATE stories SET status = 'draft' WHERE status IN ('in_review', 'changes_requested')")
    op.alter_column("stories", "status", type_=sa.String(length=16), existing_type=sa.String(length=24))
    op.drop_index("ix_audit_events_story", table_name="audit_events")
    op.drop_index("ix_audit_events_client_created", table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_client_id"), table_name="audit_events")
    op.drop_table("audit_events")
