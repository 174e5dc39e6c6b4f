"""German search: sort keys and search texts of addresses, contact persons and phonebook entries,
and their substring indexes (SQLite FTS5 trigram, PostgreSQL pg_trgm); the journal's callback index

Revision ID: search_index
Revises: records_voicemail
Create Date: 2026-12-01 13:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload


# revision identifiers, used by Alembic.
revision = 'search_index'
down_revision = "records_voicemail"
branch_labels = None
depends_on = None


def _fill_texts():
    """Compute the new columns of every existing row with the app's own rules."""
    from telephone import search_documents
    from telephone.models import Address, ContactPerson, PhonebookEntry

    session = Session(bind=op.get_bind())
    addresses = session.scalars(sa.select(Address).options(
        selectinload(Address.numbers), selectinload(Address.contacts).selectinload(ContactPerson.numbers))).all()
    for address in addresses:
        search_documents.refresh_address(address)
    for entry in session.scalars(sa.select(PhonebookEntry).options(selectinload(PhonebookEntry.numbers))):
        search_documents.refresh_phonebook_entry(entry)
    session.flush()
    session.close()


def upgrade():
    for table in ("address", "contact_person"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('sort_key', sa.String(length=200), nullable=False, server_default=""))
            batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table('phonebook_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=False, server_default=""))
        batch_op.create_index('ix_phonebook_entry_sort', ['sort_name', 'id'], unique=False)
    with op.batch_alter_table('address', schema=None) as batch_op:
        batch_op.create_index('ix_address_sort', ['sort_key', 'id'], unique=False)
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.create_index('ix_call_callback', ['remote_e164', 'direction', 'started_at'], unique=False)
    _fill_texts()
    from telephone import search_index

    search_index.create(op.get_bind())


def downgrade():
    from telephone import search_index

    search_index.drop(op.get_bind())
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_index('ix_call_callback')
    with op.batch_alter_table('address', schema=None) as batch_op:
        batch_op.drop_index('ix_address_sort')
    with op.batch_alter_table('phonebook_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_phonebook_entry_sort')
        batch_op.drop_column('search_text')
    for table in ("contact_person", "address"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('search_text')
            batch_op.drop_column('sort_key')
