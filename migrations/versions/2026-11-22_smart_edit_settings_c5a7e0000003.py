"""Smart Edit settings: the text model and system prompt the agency admin chose (one agency-wide row)

Revision ID: c5a7e0000003
Revises: c5a7e0000004
Create Date: 2026-11-22 09:30:00
"""

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC

revision = "c5a7e0000003"
down_revision = "c5a7e0000004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Agency-wide like ai_providers / ai_models: no client_id, so no row-level security.
    op.create_table(
        "smart_edit_settings",
        sa.Column("id", sa.GUID(length=16), nullable=False),
        sa.Column("singleton", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("text_model_id", sa.GUID(length=16), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("updated_by_id", sa.GUID(length=16), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("singleton", name=op.f("ck_smart_edit_settings_one_row")),
        sa.ForeignKeyConstraint(
            ["text_model_id"],
            ["ai_models.id"],
            name=op.f("fk_smart_edit_settings_text_model_id_ai_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_smart_edit_settings_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smart_edit_settings")),
        sa.UniqueConstraint("singleton", name=op.f("uq_smart_edit_settings_singleton")),
    )


def downgrade() -> None:
    op.drop_table("smart_edit_settings")
