"""Every number knows whether the journal has a call with it (phone_number.in_journal, kept by
triggers), with a partial index per owner key, so that the journal's name search reads only those

Revision ID: journal_numbers
Revises: call_digits_trgm
Create Date: 2026-12-02 00:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'journal_numbers'
down_revision = "call_digits_trgm"
branch_labels = None
depends_on = None

OWNERS = ("address", "contact_person", "phonebook_entry")


def upgrade():
    # A plain ADD COLUMN (no batch rebuild: on SQLite that would drop the table's triggers)
    op.add_column('phone_number', sa.Column('in_journal', sa.Boolean(), server_default=sa.false(),
                                            nullable=False))
    from telephone import journal_numbers

    bind = op.get_bind()
    journal_numbers.fill(bind)
    for owner in OWNERS:
        op.create_index(f"ix_phone_number_journal_{owner}", "phone_number", [f"{owner}_id", "e164"], unique=False,
                        sqlite_where=sa.text("in_journal = 1"), postgresql_where=sa.text("in_journal"))
    journal_numbers.create(bind)


def downgrade():
    from telephone import journal_numbers

    journal_numbers.drop(op.get_bind())
    for owner in OWNERS:
        op.drop_index(f"ix_phone_number_journal_{owner}", table_name="phone_number")
    with op.batch_alter_table('phone_number', schema=None) as batch_op:
        batch_op.drop_column('in_journal')
