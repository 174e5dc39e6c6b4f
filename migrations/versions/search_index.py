"""German search: sort keys and search texts of addresses, contact persons and phonebook entries,
and their substring indexes (SQLite FTS5 trigram, PostgreSQL pg_trgm); the journal's callback index

Revision ID: search_index
Revises: records_voicemail
Create Date: 2026-12-01 13:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'search_index'
down_revision = "records_voicemail"
branch_labels = None
depends_on = None


def _fill_texts():
    """Compute the new columns of every existing row with the app's own rules (`search_documents`).

    The rows are read as the tables are at this revision (reflected) and handed to the
    rules as plain objects: the app's models may have columns that later migrations add.
    """
    from types import SimpleNamespace

    from telephone import search_documents

    bind = op.get_bind()
    metadata = sa.MetaData()
    tables = {name: sa.Table(name, metadata, autoload_with=bind)
              for name in ("address", "contact_person", "phonebook_entry", "phone_number")}

    def rows(name):
        return [SimpleNamespace(**row, numbers=[]) for row in bind.execute(sa.select(tables[name])).mappings()]

    addresses = {row.id: row for row in rows("address")}
    contacts = {row.id: row for row in rows("contact_person")}
    entries = {row.id: row for row in rows("phonebook_entry")}
    for address in addresses.values():
        address.contacts = []
    for contact in contacts.values():
        addresses[contact.address_id].contacts.append(contact)
    owners = (("address_id", addresses), ("contact_person_id", contacts), ("phonebook_entry_id", entries))
    for number in bind.execute(sa.select(tables["phone_number"]).order_by(tables["phone_number"].c.id)).mappings():
        for key, records in owners:
            if number[key] is not None:
                records[number[key]].numbers.append(SimpleNamespace(raw=number["raw"], e164=number["e164"],
                                                                    owner_sort=""))
    for address in addresses.values():
        search_documents.refresh_address(address)
    for entry in entries.values():
        search_documents.refresh_phonebook_entry(entry)
    for name, records, columns in (("address", addresses, ("sort_key", "search_text")),
                                   ("contact_person", contacts, ("sort_key", "search_text")),
                                   ("phonebook_entry", entries, ("sort_name", "search_text"))):
        if records:
            table = tables[name]
            bind.execute(table.update().where(table.c.id == sa.bindparam("row_id"))
                         .values({column: sa.bindparam(column) for column in columns}),
                         [{"row_id": record.id, **{column: getattr(record, column) for column in columns}}
                          for record in records.values()])


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
