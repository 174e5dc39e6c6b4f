"""call.routing_message: what Call Control did, as a message translated when shown (msgid and parameters)

Revision ID: english_routing_message
Revises: webhook_call_id_128
Create Date: 2026-12-01 11:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'english_routing_message'
down_revision = "webhook_call_id_128"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing_message', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_column('routing_message')
