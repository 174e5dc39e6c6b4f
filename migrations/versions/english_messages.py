"""Messages translated when shown: call.routing_message and contact_push_run.error_message (msgid and parameters)

Revision ID: english_messages
Revises: mobile_banners
Create Date: 2026-12-01 11:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'english_messages'
down_revision = "mobile_banners"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing_message', sa.JSON(), nullable=True))
    with op.batch_alter_table('contact_push_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_message', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('contact_push_run', schema=None) as batch_op:
        batch_op.drop_column('error_message')
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_column('routing_message')
