"""Sharing for review: share links (token hash, expiry) and guests' comments

Revision ID: c5a7e0000001
Revises: 690aa175b37e
Create Date: 2026-11-22 07:30:00.000000
"""

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op


sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC

revision = 'c5a7e0000001'
down_revision = '690aa175b37e'
branch_labels = None
depends_on = None


# New tenant tables, protected like the others (see the initial migration).
NEW_TENANT_TABLES = ("share_links", "comments")
TENANT_PREDICATE = (
    "current_setting('app.system', true) = 'on' OR client_id = NULLIF(current_setting('app.client_id', true), '')::uuid"
)


def upgrade() -> None:
    op.create_table('share_links',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('story_id', sa.GUID(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('created_by_id', sa.GUID(length=16), nullable=True),
    sa.Column('client_id', sa.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_share_links_client_id_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_share_links_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['story_id'], ['stories.id'], name=op.f('fk_share_links_story_id_stories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_share_links_token_hash'))
    )
    op.create_index(op.f('ix_share_links_client_id'), 'share_links', ['client_id'], unique=False)
    op.create_index(op.f('ix_share_links_story_id'), 'share_links', ['story_id'], unique=False)
    op.create_table('comments',
    sa.Column('id', sa.GUID(length=16), nullable=False),
    sa.Column('story_id', sa.GUID(length=16), nullable=False),
    sa.Column('share_link_id', sa.GUID(length=16), nullable=True),
    sa.Column('user_id', sa.GUID(length=16), nullable=True),
    sa.Column('author_name', sa.String(length=80), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('client_id', sa.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_comments_client_id_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['share_link_id'], ['share_links.id'], name=op.f('fk_comments_share_link_id_share_links'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['story_id'], ['stories.id'], name=op.f('fk_comments_story_id_stories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_comments_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comments'))
    )
    op.create_index(op.f('ix_comments_client_id'), 'comments', ['client_id'], unique=False)
    op.create_index(op.f('ix_comments_story_id'), 'comments', ['story_id'], unique=False)
    op.create_index(op.f('ix_comments_share_link_id'), 'comments', ['share_link_id'], unique=False)
    for table in NEW_TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
        )


def downgrade() -> None:
    # Dropping a table drops its policies with it.
    op.drop_index(op.f('ix_comments_share_link_id'), table_name='comments')
    op.drop_index(op.f('ix_comments_story_id'), table_name='comments')
    op.drop_index(op.f('ix_comments_client_id'), table_name='comments')
    op.drop_table('comments')
    op.drop_index(op.f('ix_share_links_story_id'), table_name='share_links')
    op.drop_index(op.f('ix_share_links_client_id'), table_name='share_links')
    op.drop_table('share_links')
