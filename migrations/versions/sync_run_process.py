"""sync_run: host, pid and start marker of the process running it (dead runs are detected)

Revision ID: sync_run_process
Revises: accounts_rows
Create Date: 2026-12-01 10:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = "sync_run_process"
down_revision = "accounts_rows"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("process_marker", sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_column("process_marker")
        batch_op.drop_column("pid")
        batch_op.drop_column("host")
