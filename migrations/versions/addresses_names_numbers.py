"""Contact persons with Anrede/Titel/Vorname/Nachname, addresses with Kundennummer; numbers that
phonenumbers does not find valid (short extensions stored as +4923) lose their E.164.

Revision ID: addresses_names
Revises: webhook_call_id_128
Create Date: 2026-12-01 10:10:00

"""
import phonenumbers
import sqlalchemy as sa
from alembic import op

from telephone.addresses.book import split_name

# revision identifiers, used by Alembic.
revision = "addresses_names"
down_revision = "webhook_call_id_128"
branch_labels = None
depends_on = None

CHUNK = 1000


def _valid(e164: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False


def _split_contact_names(connection) -> None:
    """Existing names ("Herr Dr. Hans Müller") are split into their parts; name keeps the full name."""
    rows = connection.execute(sa.text("SELECT id, name FROM contact_person")).all()
    update = sa.text("UPDATE contact_person SET salutation = :salutation, title = :title, "
                     "first_name = :first_name, last_name = :last_name, name = :name WHERE id = :id")
    values = []
    for row_id, name in rows:
        parts = split_name(name or "")
        values.append({"id": row_id, "salutation": parts.salutation[:20], "title": parts.title[:60],
                       "first_name": parts.first_name[:120], "last_name": parts.last_name[:120],
                       "name": parts.full[:200] or (name or "")})
    for start in range(0, len(values), CHUNK):
        connection.execute(update, values[start:start + CHUNK])


def _drop_invalid_e164(connection, table: str, column: str, also_null: tuple[str, ...] = ()) -> None:
    """Set E.164 values that are no valid phone number (and the given columns) to NULL."""
    rows = connection.execute(sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL")).all()
    invalid = [value for (value,) in rows if not _valid(value)]
    assignments = ", ".join(f"{name} = NULL" for name in (column, *also_null))
    update = sa.text(f"UPDATE {table} SET {assignments} WHERE {column} = :value")
    for start in range(0, len(invalid), CHUNK):
        connection.execute(update, [{"value": value} for value in invalid[start:start + CHUNK]])


def upgrade():
    with op.batch_alter_table("contact_person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("salutation", sa.String(length=20), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("title", sa.String(length=60), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("first_name", sa.String(length=120), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("last_name", sa.String(length=120), nullable=False, server_default=""))
    with op.batch_alter_table("address", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_number", sa.String(length=40), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_address_customer_number"), ["customer_number"], unique=False)
    connection = op.get_bind()
    _split_contact_names(connection)
    _drop_invalid_e164(connection, "phone_number", "e164", also_null=("main_prefix",))
    _drop_invalid_e164(connection, "call", "remote_e164")


def downgrade():
    with op.batch_alter_table("address", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_customer_number"))
        batch_op.drop_column("customer_number")
    with op.batch_alter_table("contact_person", schema=None) as batch_op:
        batch_op.drop_column("last_name")
        batch_op.drop_column("first_name")
        batch_op.drop_column("title")
        batch_op.drop_column("salutation")
