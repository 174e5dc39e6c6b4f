"""PostgreSQL search indexes: the journal's holds the digits of call.remote_e164, not the column
itself, so that equality on the column reads its B-tree; those written row by row take new rows at
once (no GIN pending list, which every search read in full until a VACUUM); the lists are merged

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

ROW_BY_ROW = ("ix_address_search_text_trgm", "ix_contact_person_search_text_trgm")
BULK_WRITTEN = ("ix_phonebook_entry_search_text_trgm",)  # the sync merges its pending list


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.execute(sa.text("DROP INDEX IF EXISTS ix_call_remote_e164_trgm"))
    bind.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_call_remote_e164_digits_trgm ON \"call\" "
                         "USING gin ((ltrim(remote_e164, '+')) gin_trgm_ops) WITH (fastupdate = off)"))
    for name in ROW_BY_ROW:
        bind.execute(sa.text(f"ALTER INDEX {name} SET (fastupdate = off)"))
    for name in ROW_BY_ROW + BULK_WRITTEN:
        bind.execute(sa.text(f"SELECT gin_clean_pending_list('{name}'::regclass)"))  # what they hold already


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name in ROW_BY_ROW:
        bind.execute(sa.text(f"ALTER INDEX {name} RESET (fastupdate)"))
    bind.execute(sa.text("DROP INDEX IF EXISTS ix_call_remote_e164_digits_trgm"))
    bind.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_call_remote_e164_trgm ON \"call\" "
                         "USING gin (remote_e164 gin_trgm_ops)"))
