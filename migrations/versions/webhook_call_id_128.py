"""Call ids of any printable shape: call.call_id and call_event.call_id widened to 128 characters

Revision ID: webhook_call_id_128
Revises: sync_run_process
Create Date: 2026-12-01 10:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'webhook_call_id_128'
down_revision = "sync_run_process"
branch_labels = None
depends_on = None


def upgrade():
    for table, nullable in (('call', True), ('call_event', False)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('call_id', existing_type=sa.String(length=64), type_=sa.String(length=128),
                                  existing_nullable=nullable)


def downgrade():
    # Ids longer than 64 characters do not fit the old columns: they are cut.
    for table, nullable in (('call_event', False), ('call', True)):
        op.execute(sa.text(f"UPDATE {table} SET call_id = substr(call_id, 1, 64) WHERE length(call_id) > 64"))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('call_id', existing_type=sa.String(length=128), type_=sa.String(length=64),
                                  existing_nullable=nullable)
