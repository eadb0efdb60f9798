"""Queue: stored search vector on story versions, and tab counts kept by triggers

Revision ID: c5a7e0000004
Revises: 904e95c14f2c
Create Date: 2026-11-22 09:00:00.000000
"""

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

sa.GUID = GUID
sa.DateTimeUTC = DateTimeUTC

revision = 'c5a7e0000004'
down_revision = '904e95c14f2c'
branch_labels = None
depends_on = None


TENANT_PREDICATE = (
    "current_setting('app.system', true) = 'on' OR client_id = NULLIF(current_setting('app.client_id', true), '')::uuid"
)

# One function per event: a trigger with transition tables may only have one event. Each appends
# the statement's net change per (client, status), so a bulk approve of 50 stories adds 2 rows.
# Rows of a client that no longer exists are skipped: deleting a client cascades to its stories,
# and a delta for it would break the foreign key in the same statement.
COUNT_FUNCTIONS = {
    "insert": """
        INSERT INTO story_status_counts (client_id, status, delta)
        SELECT n.client_id, n.status, count(*) FROM new_rows n
        WHERE EXISTS (SELECT 1 FROM clients c WHERE c.id = n.client_id)
        GROUP BY n.client_id, n.status
    """,
    "update": """
        INSERT INTO story_status_counts (client_id, status, delta)
        SELECT client_id, status, sum(delta) FROM (
            SELECT client_id, status, 1 AS delta FROM new_rows
            UNION ALL
            SELECT client_id, status, -1 AS delta FROM old_rows
        ) AS changes
        WHERE EXISTS (SELECT 1 FROM clients c WHERE c.id = changes.client_id)
        GROUP BY client_id, status
        HAVING sum(delta) <> 0
    """,
    "delete": """
        INSERT INTO story_status_counts (client_id, status, delta)
        SELECT o.client_id, o.status, -count(*) FROM old_rows o
        WHERE EXISTS (SELECT 1 FROM clients c WHERE c.id = o.client_id)
        GROUP BY o.client_id, o.status
    """,
}
REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    # The queue's search: a stored column (only `@@` then needs to be LEAKPROOF under RLS).
    op.add_column(
        'story_versions',
        sa.Column(
            'search',
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple', title || ' ' || lead || ' ' || left(body, 100000))", persisted=True),
            nullable=True,
        ),
    )
    # With the client first (btree_gin): a word common in other clients costs this client nothing.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.create_index(
        'ix_story_versions_search', 'story_versions', ['client_id', 'search'], unique=False, postgresql_using='gin'
    )

    op.create_table(
        'story_status_counts',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column('client_id', sa.GUID(length=16), nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('delta', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['client_id'], ['clients.id'], name=op.f('fk_story_status_counts_client_id_clients'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_story_status_counts')),
    )
    op.create_index(op.f('ix_story_status_counts_client_id'), 'story_status_counts', ['client_id'], unique=False)
    op.execute("ALTER TABLE story_status_counts ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE story_status_counts FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON story_status_counts USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
    )

    for event, body in COUNT_FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION story_status_counts_on_{event}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body};\nRETURN NULL;\nEND\n$$"
        )
        op.execute(
            f"CREATE TRIGGER story_status_counts_{event} AFTER {event.upper()} ON stories "
            f"{REFERENCING[event]} FOR EACH STATEMENT EXECUTE FUNCTION story_status_counts_on_{event}()"
        )
    # Fold the appended rows into one per (client, status). Rows appended by transactions that
    # commit meanwhile are not in this statement's snapshot, so they are neither deleted nor lost.
    op.execute(
        """
        CREATE FUNCTION compact_story_status_counts() RETURNS integer LANGUAGE sql AS $$
            WITH folded AS (DELETE FROM story_status_counts RETURNING client_id, status, delta),
            kept AS (
                INSERT INTO story_status_counts (client_id, status, delta)
                SELECT client_id, status, sum(delta) FROM folded
                GROUP BY client_id, status HAVING sum(delta) <> 0
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM folded)::integer - (SELECT count(*) FROM kept)::integer
        $$
        """
    )
    # The stories already there.
    op.execute(
        "INSERT INTO story_status_counts (client_id, status, delta) "
        "SELECT client_id, status, count(*) FROM stories GROUP BY client_id, status"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION compact_story_status_counts()")
    for event in COUNT_FUNCTIONS:
        op.execute(f"DROP TRIGGER story_status_counts_{event} ON stories")
        op.execute(f"DROP FUNCTION story_status_counts_on_{event}()")
    op.drop_index(op.f('ix_story_status_counts_client_id'), table_name='story_status_counts')
    op.drop_table('story_status_counts')
    op.drop_index('ix_story_versions_search', table_name='story_versions', postgresql_using='gin')
    op.drop_column('story_versions', 'search')
