"""The owner's sort key on every number (phone_number.owner_sort) with the directory's index, so
that the Telefon page sorts and pages without joining the owners

Revision ID: number_owner_sort
Revises: call_called_back
Create Date: 2026-12-01 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'number_owner_sort'
down_revision = "call_called_back"
branch_labels = None
depends_on = None

# Each number's owner and the owner's sort column
_OWNERS = (("contact_person_id", "contact_person", "sort_key"), ("address_id", "address", "sort_key"),
           ("phonebook_entry_id", "phonebook_entry", "sort_name"))


def upgrade():
    # A plain ADD COLUMN: no batch rebuild of the big number index
    op.add_column('phone_number', sa.Column('owner_sort', sa.String(length=200), nullable=False, server_default=""))
    for key, table, column in _OWNERS:
        op.execute(f"UPDATE phone_number SET owner_sort = coalesce((SELECT {column} FROM {table} "
                   f"WHERE {table}.id = phone_number.{key}), '') WHERE {key} IS NOT NULL")
    op.create_index('ix_phone_number_owner_sort', 'phone_number', ['owner_sort', 'kind', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_phone_number_owner_sort', table_name='phone_number')
    with op.batch_alter_table('phone_number', schema=None) as batch_op:
        batch_op.drop_column('owner_sort')
