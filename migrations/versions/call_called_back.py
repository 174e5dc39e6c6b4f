"""Missed calls: whether they were called back is kept on the call (call.called_back_at, set by
triggers) with the index of the open ones, so the missed-calls badge no longer looks at every call

Revision ID: call_called_back
Revises: search_index
Create Date: 2026-12-01 21:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'call_called_back'
down_revision = "search_index"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (no batch rebuild: on SQLite that would drop the table's search triggers)
    op.add_column('call', sa.Column('called_back_at', sa.DateTime(), nullable=True))
    op.create_index('ix_call_open_missed', 'call', ['status', 'direction', 'done_at', 'called_back_at'],
                    unique=False)
    from telephone import callbacks

    bind = op.get_bind()
    bind.execute(sa.text(callbacks.FILL))
    callbacks.create(bind)


def downgrade():
    from telephone import callbacks

    callbacks.drop(op.get_bind())
    op.drop_index('ix_call_open_missed', table_name='call')
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_column('called_back_at')
    if op.get_bind().dialect.name == "sqlite":  # the batch rebuild dropped the search triggers
        from telephone import search_index

        search_index.create(op.get_bind(), "call")
