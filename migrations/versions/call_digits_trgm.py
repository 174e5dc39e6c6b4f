"""PostgreSQL: the journal's number search index holds the digits of call.remote_e164, not the column
itself, so that equality on the column (the journal's search, the callback triggers) reads its B-tree

Revision ID: call_digits_trgm
Revises: number_owner_sort
Create Date: 2026-12-02 00:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'call_digits_trgm'
down_revision = "number_owner_sort"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("DROP INDEX IF EXISTS ix_call_remote_e164_trgm"))
        bind.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_call_remote_e164_digits_trgm ON \"call\" "
                             "USING gin ((ltrim(remote_e164, '+')) gin_trgm_ops)"))


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("DROP INDEX IF EXISTS ix_call_remote_e164_digits_trgm"))
        bind.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_call_remote_e164_trgm ON \"call\" "
                             "USING gin (remote_e164 gin_trgm_ops)"))
