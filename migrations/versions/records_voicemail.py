"""Voicemail recordings downloaded from Placetel: table voicemail

Revision ID: records_voicemail
Revises: english_messages
Create Date: 2026-12-01 11:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'records_voicemail'
down_revision = "english_messages"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'voicemail',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('call_pk', sa.Integer(), nullable=False),
        sa.Column('file_name', sa.String(length=64), nullable=False),
        sa.Column('content_type', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('stored_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['call_pk'], ['call.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('call_pk'),
        sa.UniqueConstraint('file_name'),
    )
    with op.batch_alter_table('voicemail', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voicemail_stored_at'), ['stored_at'], unique=False)


def downgrade():
    with op.batch_alter_table('voicemail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voicemail_stored_at'))
    op.drop_table('voicemail')
